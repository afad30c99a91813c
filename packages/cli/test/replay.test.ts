/**
 * `eddy replay` as a child process against kinesalite and dynalite: a stream
 * resharded halfway, with producer duplicates, computed live by the Lambda
 * handler behind the simulated event-source mapping; then replayed into shadow
 * tables (once straight through, once killed midway and run again from its
 * checkpoint), compared
 * with the live table, and switched to, which changes what `eddy query` reads.
 */
import { ScanCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import * as Lambda from "@eddy/runtime/Lambda"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { Effect, Exit, Layer, Schedule, Scope } from "effect"
import { execFile, spawn } from "node:child_process"
import { resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pipelines, type Reading } from "./fixtures/pipelines"
import { bin } from "./bin"

const fixture = resolve(import.meta.dirname, "fixtures/pipelines.ts")
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EDDY_") && !k.startsWith("AWS_ENDPOINT_URL")))

const STREAM = "meters"
const LIVE = "live-aggregates"
let env: Record<string, string> = {}
/** A time between the two halves of the stream's records. */
let halfway = ""
const scope = Effect.runSync(Scope.make())

const eddy = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((done) => {
    execFile(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...cleanEnv, NO_COLOR: "1", ...env, ...extra }, timeout: 120_000 }, (error, stdout, stderr) =>
      done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr }))
  })

// 12 devices; every 50th reading is sent twice by its producer (same id and payload, a new record).
const at = Date.UTC(2026, 10, 21)
const readings: ReadonlyArray<Reading> = Array.from({ length: 3000 }, (_, i) => ({ type: "reading", id: `m-${i}`, device: `d${i % 12}`, value: (i % 17) - 3, at }))
const sent = readings.flatMap((r, i) => (i % 50 === 0 ? [r, r] : [r]))
const expected = (device: string) => readings.filter((r) => r.device === device).reduce((sum, r) => sum + r.value, 0)

const kinesis = () => Kinesis.layer({ region: "us-east-1", endpoint: env.AWS_ENDPOINT_URL_KINESIS! })
const dynamo = () => DynamoClient.layer({ region: "us-east-1", endpoint: env.AWS_ENDPOINT_URL_DYNAMODB! })

const put = (batch: ReadonlyArray<Reading>) =>
  Effect.flatMap(Kinesis.Kinesis, (k) =>
    Effect.forEach(
      Array.from({ length: Math.ceil(batch.length / 500) }, (_, i) => batch.slice(i * 500, i * 500 + 500)),
      (records) => k.putRecords({ StreamName: STREAM, Records: records.map((r) => ({ PartitionKey: r.device, Data: new TextEncoder().encode(JSON.stringify(r)) })) }),
      { discard: true }
    ))

const active = Effect.flatMap(Kinesis.Kinesis, (k) => k.describeStreamSummary({ StreamName: STREAM })).pipe(
  Effect.filterOrFail((s) => s.StreamDescriptionSummary?.StreamStatus === "ACTIVE", () => new Error("stream not ACTIVE")),
  Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds")))
)

beforeAll(async () => {
  const [k, d] = await Effect.runPromise(Effect.all([Kinesalite.start(), Dynalite.start()]).pipe(Scope.extend(scope)))
  env = {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_ENDPOINT_URL_KINESIS: k.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: d.endpoint,
    EDDY_DEDUP_TABLE: "dedup"
  }
  await Effect.gen(function*() {
    yield* Tables.ensure({ aggregate: LIVE, dedup: "dedup" })
    const client = yield* Kinesis.Kinesis
    yield* client.createStream({ StreamName: STREAM, ShardCount: 2 })
    yield* active
    yield* put(sent.slice(0, 1500))
    yield* Effect.sleep("50 millis")
    halfway = new Date().toISOString()
    yield* Effect.sleep("50 millis")
    // Every shard gets records after `halfway` (kinesalite never answers an AT_TIMESTAMP iterator of a shard without any).
    yield* put(sent.slice(1500, 1800))
    // A reshard: shard 0 splits, its children take the rest of its keys.
    yield* client.splitShard({ StreamName: STREAM, ShardToSplit: "shardId-000000000000", NewStartingHashKey: (2n ** 126n).toString() })
    yield* active
    yield* put(sent.slice(1800))

    // The live pipeline: the Lambda handler behind the event-source mapping, into the live table.
    const handler = Lambda.handler({
      pipelines,
      layer: Layer.mergeAll(DynamoStore.layer({ table: LIVE }), DynamoDeduper.layer({ table: "dedup", namespace: "live" }), DeadLetter.layerMemory).pipe(Layer.provide(dynamo()))
    })
    yield* EventSourceMapping.run(handler, { streamName: STREAM, batchSize: 500 })
    yield* Effect.promise(() => handler.dispose())
  }).pipe(Effect.provide(Layer.merge(kinesis(), dynamo())), Effect.runPromise)
}, 120_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const query = async (device: string, table: string) => {
  const r = await eddy(["query", "total_by_device", device, "--pipelines", fixture, "--json"], { EDDY_AGGREGATE_TABLE: table })
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout).total as number | null
}

const summaryOf = (stdout: string) => {
  const m = /replayed (\d+) records of (\d+) shards in ([\d.]+) s \((\d+) records\/s\): applied (\d+), duplicate (\d+), dead-lettered (\d+), failed (\d+); (\d+)\/(\d+) shards finished/.exec(stdout)
  expect(m, stdout).not.toBeNull()
  const [read, shards, , perSecond, applied, duplicate, deadLettered, failed, finished] = m!.slice(1).map(Number)
  return { read, shards, perSecond, applied, duplicate, deadLettered, failed, finished }
}

const replay = (shadow: string, extra: ReadonlyArray<string> = []) =>
  eddy(["replay", "run", "--pipelines", fixture, "--stream", STREAM, "--shadow-table", shadow, ...extra])

describe("eddy replay", () => {
  it("recomputes the live table into a shadow table, across the reshard, and compare finds them equal", async () => {
    const live = await query("d3", LIVE)
    expect(live).toBe(expected("d3"))

    const r = await replay("shadow")
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`replaying ${STREAM} (from TRIM_HORIZON, until `)
    // Parents before children: the split shard finishes before either child.
    const lines = r.stdout.split("\n")
    const done = (shard: string) => lines.findIndex((l) => l.startsWith(`${shard}: done`))
    expect(done("shardId-000000000000")).toBeGreaterThanOrEqual(0)
    expect(done("shardId-000000000000")).toBeLessThan(done("shardId-000000000002"))
    expect(done("shardId-000000000000")).toBeLessThan(done("shardId-000000000003"))
    const summary = summaryOf(r.stdout)
    expect(summary).toMatchObject({ read: sent.length, shards: 4, applied: readings.length, duplicate: sent.length - readings.length, failed: 0, finished: 4 })
    console.log(`replay: ${summary.read} records in ${summary.shards} shards at ${summary.perSecond} records/s`)

    for (const device of ["d0", "d3", "d11"]) expect(await query(device, "shadow")).toBe(expected(device))
    const compared = await eddy(["replay", "compare", "--pipelines", fixture, "--aggregate-table", LIVE, "--shadow-table", "shadow"])
    expect(compared.code, compared.stdout + compared.stderr).toBe(0)
    expect(compared.stdout).toMatch(/total_by_device\s+12\s+0\s+0\s+0/)
    // The spread pipeline's one item is four sub-items in each table, one per shard, which compare as one item.
    for (const table of [LIVE, "shadow"]) {
      const scanned = await Effect.flatMap(DynamoClient.DynamoClient, (client) => Effect.promise(() => client.send(new ScanCommand({ TableName: table })))).pipe(
        Effect.provide(dynamo()),
        Effect.runPromise
      )
      const buckets = (scanned.Items ?? []).filter((i) => i.pk?.S === "busiest_devices#all").map((i) => i.sk?.S).sort()
      expect(buckets).toEqual(["all~0", "all~1", "all~2", "all~3"])
    }
    expect(compared.stdout).toMatch(/busiest_devices\s+1\s+0\s+0\s+0/)
    for (const table of [LIVE, "shadow"]) {
      const top = await eddy(["query", "busiest_devices", "all", "--pipelines", fixture, "--json"], { EDDY_AGGREGATE_TABLE: table })
      expect(top.code, top.stderr).toBe(0)
      // 3000 readings over 12 devices: 250 each, merged from the four sub-items.
      expect(JSON.parse(top.stdout).total.map((e: { count: number }) => e.count)).toEqual([250, 250, 250])
    }
  }, 180_000)

  it("starts at a time, or stops at one", async () => {
    const second = summaryOf((await replay("second-half", ["--from", halfway])).stdout)
    expect(second).toMatchObject({ read: sent.length - 1500, applied: new Set(sent.slice(1500).map((r) => r.id)).size, failed: 0, finished: 4 })
    const first = await replay("first-half", ["--until", halfway])
    expect(first.stdout).toContain(`until ${halfway}`)
    expect(summaryOf(first.stdout)).toMatchObject({ read: 1500, applied: new Set(sent.slice(0, 1500).map((r) => r.id)).size, failed: 0, finished: 4 })
    const usage = await replay("never", ["--from", "yesterday"])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain("is neither TRIM_HORIZON, a UTC time")
  }, 180_000)

  it("counts each event once when a replay is killed midway and run again", async () => {
    const child = spawn(process.execPath, [bin, "replay", "run", "--pipelines", fixture, "--stream", STREAM, "--shadow-table", "resumed", "--read-limit", "50"], {
      env: { ...cleanEnv, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout!.on("data", (d) => (output += d))
    child.stderr!.on("data", (d) => (output += d))
    const exited = new Promise<void>((r) => child.once("exit", () => r()))
    const deadline = Date.now() + 90_000
    // Killed at its first progress line that reports records read.
    while (!/progress: \d+\/\d+ shards finished \(\d+%\), [1-9]\d* records read/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the replay ended before it could be killed:\n${output}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    child.kill("SIGKILL")
    await exited
    expect(output).not.toContain("replayed ")

    const again = await replay("resumed")
    expect(again.code, again.stderr).toBe(0)
    const summary = summaryOf(again.stdout)
    // It goes on from the killed run's checkpoint; what that run applied past it is found applied (duplicate); nothing is applied twice.
    expect(summary.read).toBeLessThanOrEqual(sent.length)
    expect(summary.applied + summary.duplicate).toBe(summary.read)
    expect(summary.applied).toBeLessThan(readings.length)
    console.log(`resumed replay: ${summary.read} of ${sent.length} records read, ${summary.duplicate} found applied (or producer duplicates), ${summary.applied} applied now`)
    for (const device of ["d0", "d3", "d11"]) expect(await query(device, "resumed")).toBe(expected(device))
    const compared = await eddy(["replay", "compare", "--pipelines", fixture, "--aggregate-table", LIVE, "--shadow-table", "resumed"])
    expect(compared.code, compared.stdout).toBe(0)

    // Run again with nothing new: every shard starts after its checkpoint and reads nothing.
    const third = summaryOf((await replay("resumed")).stdout)
    expect(third).toMatchObject({ read: 0, applied: 0, duplicate: 0, finished: 4 })
  }, 240_000)

  it("compare reports an item changed in the shadow table, with an example", async () => {
    await Effect.flatMap(DynamoClient.DynamoClient, (client) =>
      Effect.promise(() =>
        client.send(new UpdateItemCommand({ TableName: "shadow", Key: { pk: { S: "total_by_device#d5" }, sk: { S: "all" } }, UpdateExpression: "ADD v :one", ExpressionAttributeValues: { ":one": { N: "1" } } }))
      )).pipe(Effect.provide(dynamo()), Effect.runPromise)
    const r = await eddy(["replay", "compare", "--pipelines", fixture, "--aggregate-table", LIVE, "--shadow-table", "shadow"])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/total_by_device\s+11\s+1\s+0\s+0/)
    expect(r.stdout).toContain(`total_by_device "d5" all: live ${expected("d5")}, shadow ${expected("d5") + 1}`)
    expect(r.stderr).toContain(`1 item(s) differ between ${LIVE} and shadow`)
  }, 120_000)

  it("switch points eddy query at the shadow table, atomically, and back", async () => {
    expect(await query("d5", LIVE)).toBe(expected("d5"))
    const s = await eddy(["replay", "switch", "--aggregate-table", LIVE, "--to", "shadow"])
    expect(s.code, s.stderr).toBe(0)
    expect(s.stdout).toContain(`readers of ${LIVE} now read shadow (they read ${LIVE} before)`)
    // Readers configured with the live table read the shadow's (changed) item now.
    expect(await query("d5", LIVE)).toBe(expected("d5") + 1)
    expect((await eddy(["replay", "switch", "--aggregate-table", LIVE])).stdout).toContain(`readers of ${LIVE} read shadow`)
    const missing = await eddy(["replay", "switch", "--aggregate-table", LIVE, "--to", "no-such-table"])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("there is no table no-such-table to switch to")

    const back = await eddy(["replay", "switch", "--aggregate-table", LIVE, "--to", LIVE])
    expect(back.code, back.stderr).toBe(0)
    expect(await query("d5", LIVE)).toBe(expected("d5"))
  }, 240_000)
})
