/**
 * The `eddy` binary (bundled, see `bin.ts`) as a child process: help, version, usage errors,
 * describe, local up (emulators on fixed ports, read back through the printed
 * environment block), tables create, query --json, and re-drives that are
 * exactly once (a second run finds only duplicates; the aggregates equal an
 * independent fold of the events).
 */
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Processor from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as DeadLetterSinks from "@eddy/runtime/DeadLetterSinks"
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs"
import { Effect, Layer } from "effect"
import { buildApp } from "fauxqs"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BROKEN, pipelines, type Reading } from "./fixtures/pipelines"
import { bin, workspaceBin } from "./bin"

const fixture = resolve(import.meta.dirname, "fixtures/pipelines.ts")
const commerce = resolve(import.meta.dirname, "../../../apps/commerce-analytics/src/pipelines.ts")
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EDDY_") && !k.startsWith("AWS_ENDPOINT_URL")))

/** Runs the binary without blocking the test worker's event loop. */
const eddy = (args: ReadonlyArray<string>, env: Record<string, string> = {}, binary = bin) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((done) => {
    execFile(process.execPath, [binary, ...args], { encoding: "utf8", env: { ...cleanEnv, NO_COLOR: "1", ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr }))
  })

describe("eddy usage", () => {
  it("prints help for eddy and for every command, and its version", async () => {
    const help = await eddy(["--help"])
    expect(help.code).toBe(0)
    for (const command of ["describe", "query", "tables create", "local up", "redrive", "replay run", "replay compare", "replay switch"]) expect(help.stdout).toContain(command)
    const commands = [["describe"], ["query"], ["tables", "create"], ["local", "up"], ["redrive"], ["replay", "run"], ["replay", "compare"], ["replay", "switch"]]
    const helps = await Promise.all(commands.map((command) => eddy([...command, "--help"])))
    helps.forEach((sub, i) => {
      expect(sub.code, commands[i]!.join(" ")).toBe(0)
      expect(sub.stdout).toContain("OPTIONS")
    })
    expect(helps[commands.findIndex(([c]) => c === "redrive")]!.stdout).toContain("$EDDY_DEDUP_TABLE")
    const version = JSON.parse(readFileSync(resolve(import.meta.dirname, "../package.json"), "utf8")).version
    // The bundle and the workspace's own binary (`pnpm eddy`, the sources under tsx) both answer.
    for (const binary of [bin, workspaceBin]) {
      const printed = await eddy(["--version"], {}, binary)
      expect(printed.code).toBe(0)
      expect(printed.stdout.trim()).toBe(version)
    }
  })

  it("suggests a command or option for a typo, with exit code 2", async () => {
    const command = await eddy(["descrbe"])
    expect(command.code).toBe(2)
    expect(command.stderr).toContain("Did you mean 'describe'?")
    const option = await eddy(["describe", "--pipline", fixture])
    expect(option.code).toBe(2)
    expect(option.stderr).toContain("Did you mean '--pipelines'?")
  })

  it("names a missing option in one plain message, with exit code 2", async () => {
    const r = await eddy(["query", "total_by_device", "d1"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--pipelines")
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/)
  })

  it("fails a user error with one message and exit code 1, no stack trace", async () => {
    const r = await eddy(["describe", "--pipelines", "missing.ts"])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe("eddy: no pipelines module at missing.ts; give --pipelines the path of the module that exports them")
  })

  it("describes the commerce pipelines, as a table and as JSON", async () => {
    const table = await eddy(["describe", "--pipelines", commerce], { EDDY_AGGREGATE_TABLE: "commerce-aggregates" })
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/top_products_daily\s+order\.created\s+topk\(100,1000\)\s+daily, kept 400d\s+4\b/)
    expect(table.stdout).toMatch(/revenue_by_product_hourly\s+.*\s+1\s*$/m)
    expect(table.stdout).toContain("DynamoDB table commerce-aggregates")
    const json = JSON.parse((await eddy(["describe", "--pipelines", commerce, "--json"])).stdout)
    expect(json.source).toBe("commerce")
    expect(json.pipelines.find((p: { name: string }) => p.name === "unique_customers_daily")?.subItemsPerKey).toBe(4)
  })
})

// ---------------------------------------------------------------------------
// Against the emulators `eddy local up` starts
// ---------------------------------------------------------------------------

const STREAM = "readings"
const DLQ = "readings-dead-letters"
const NAMESPACE = "test"
let child: ChildProcess
let output = ""
let env: Record<string, string> = {}
const dir = mkdtempSync(join(tmpdir(), "eddy-cli-"))

const port = () => 20_000 + Math.floor(Math.random() * 20_000)

beforeAll(async () => {
  const kinesisPort = port()
  child = spawn(process.execPath, [bin, "local", "up", "--kinesis-port", String(kinesisPort), "--dynamodb-port", String(kinesisPort + 1), "--stream", STREAM, "--stream", DLQ, "--aggregate-table", "aggregates", "--dedup-table", "dedup"], {
    env: { ...cleanEnv, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout!.on("data", (d) => (output += d))
  child.stderr!.on("data", (d) => (output += d))
  const deadline = Date.now() + 60_000
  while (!output.includes("Running until Ctrl-C")) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`local up did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  env = Object.fromEntries(
    output.split("\n").filter((l) => l.startsWith("export ")).flatMap((l) => l.slice(7).split(" ").map((kv) => kv.split("=") as [string, string]))
  )
})

afterAll(() => {
  if (child.exitCode === null) child.kill("SIGKILL")
})

const state = () => {
  const client = DynamoClient.layer({ region: "us-east-1", endpoint: env.AWS_ENDPOINT_URL_DYNAMODB! })
  return Layer.mergeAll(
    DynamoStore.layer({ table: "aggregates" }),
    DynamoDeduper.layer({ table: "dedup", namespace: NAMESPACE }),
    DeadLetter.layerMemory
  ).pipe(Layer.provideMerge(client))
}

const reading = (i: number, device: string, value: number): Reading => ({ type: "reading", id: `r-${i}`, device, value, at: Date.UTC(2026, 10, 21) })
const bytes = (r: Reading) => new TextEncoder().encode(JSON.stringify(r))

/** One record per value: readings of `device` with ids from `firstId`, on `shardId` from sequence number `first`. */
const readingRecords = (values: ReadonlyArray<number>, device: string, firstId: number, shardId: string, first: bigint): Array<SourceRecord> =>
  values.map((v, i) => ({
    data: bytes(reading(firstId + i, device, v)),
    partitionKey: device,
    shardId,
    sequenceNumber: String(first + BigInt(i)),
    subSequenceNumber: 0,
    arrivalTime: 0
  }))

/** Processes records as an entry would (the pipeline broken), returning the dead letters. */
const processBroken = (records: ReadonlyArray<SourceRecord>) =>
  Effect.gen(function*() {
    process.env[BROKEN] = "1"
    const processor = yield* Processor.make({ pipelines })
    const result = yield* processor.process(records, { source: STREAM })
    delete process.env[BROKEN]
    return { result, deadLetters: yield* (yield* DeadLetter.MemoryDeadLetters).entries }
  }).pipe(Effect.provide(state()), Effect.runPromise)

const queryTotal = async (device: string) => {
  const r = await eddy(["query", "total_by_device", device, "--pipelines", fixture, "--json"], env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout).total as number | null
}

const redrive = async (args: ReadonlyArray<string>) => {
  const r = await eddy(["redrive", "--pipelines", fixture, "--dedup-namespace", NAMESPACE, "--json", ...args], env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout.split("\n")[0]!) as { read: number; applied: number; duplicate: number; poisoned: number; failed: number }
}

describe("eddy against the emulators of eddy local up", () => {
  it("prints the environment block, and tables create finds the tables it made", async () => {
    expect(output).toMatch(/created\s+aggregates/)
    expect(output).toMatch(/created\s+readings-leases\s+\(lease table, no TTL\)/)
    expect(env.AWS_ENDPOINT_URL_KINESIS).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(env.EDDY_AGGREGATE_TABLE).toBe("aggregates")
    const again = await eddy(["tables", "create", "--lease-table", "readings-leases", "--lease-table", "other-leases"], env)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/exists\s+aggregates/)
    expect(again.stdout).toMatch(/exists\s+dedup/)
    expect(again.stdout).toMatch(/created\s+other-leases/)
  })

  it("re-drives dead letters of a file exactly once, past the shard's watermark", async () => {
    // One shard: d1 readings, two of them poison while the pipeline is broken, later ones applied after them.
    const values = [5, -2, 7, -3, 11, 13]
    const records = readingRecords(values, "d1", 0, "shardId-000000000000", 10n ** 20n)
    const { deadLetters } = await processBroken(records)
    expect(deadLetters).toHaveLength(2)
    const file = join(dir, "dead-letters.jsonl")
    writeFileSync(file, `{"level":"info","msg":"unrelated"}\n${deadLetters.map((entry) => DeadLetterSinks.logLine(entry, "full")).join("\n")}\n`)
    expect(await queryTotal("d1")).toBe(5 + 7 + 11 + 13)

    expect(await redrive(["--from", file])).toEqual({ read: 2, applied: 2, duplicate: 0, poisoned: 0, failed: 0 })
    expect(await queryTotal("d1")).toBe(values.reduce((a, b) => a + b, 0))
    expect(await redrive(["--from", file])).toEqual({ read: 2, applied: 0, duplicate: 2, poisoned: 0, failed: 0 })
    expect(await queryTotal("d1")).toBe(values.reduce((a, b) => a + b, 0))
  })

  it("re-reads an on-failure batch from the stream and processes it exactly once", async () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8]
    const put = await Effect.flatMap(Kinesis.Kinesis, (kinesis) =>
      kinesis.putRecords({ StreamName: STREAM, Records: values.map((v, i) => ({ Data: bytes(reading(100 + i, "d2", v)), PartitionKey: "d2" })) })).pipe(
        Effect.provide(Kinesis.layer({ region: "us-east-1", endpoint: env.AWS_ENDPOINT_URL_KINESIS! })),
        Effect.runPromise
      )
    const positions = put.Records!.map((r) => ({ shardId: r.ShardId!, sequenceNumber: r.SequenceNumber! }))
    // Lambda gave up on the first five; the last three were applied after them (the watermark is past the batch).
    const later: Array<SourceRecord> = values.slice(5).map((v, j) => ({
      data: bytes(reading(105 + j, "d2", v)),
      partitionKey: "d2",
      ...positions[5 + j]!,
      subSequenceNumber: 0,
      arrivalTime: 0
    }))
    const { result } = await processBroken(later)
    expect(result.counts.applied).toBe(3)
    const batch = {
      requestContext: { condition: "RetryAttemptsExhausted" },
      condition: "RetryAttemptsExhausted",
      approximateInvokeCount: 3,
      KinesisBatchInfo: {
        shardId: positions[0]!.shardId,
        startSequenceNumber: positions[0]!.sequenceNumber,
        endSequenceNumber: positions[4]!.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date().toISOString(),
        approximateArrivalOfLastRecord: new Date().toISOString(),
        batchSize: 5,
        streamArn: `arn:aws:kinesis:us-east-1:000000000000:stream/${STREAM}`
      }
    }
    const file = join(dir, "on-failure.json")
    writeFileSync(file, JSON.stringify([batch]))
    expect(await queryTotal("d2")).toBe(6 + 7 + 8)

    expect(await redrive(["--on-failure", file])).toEqual({ read: 5, applied: 5, duplicate: 0, poisoned: 0, failed: 0 })
    expect(await queryTotal("d2")).toBe(values.reduce((a, b) => a + b, 0))
    expect(await redrive(["--on-failure", file])).toEqual({ read: 5, applied: 0, duplicate: 5, poisoned: 0, failed: 0 })
    expect(await queryTotal("d2")).toBe(values.reduce((a, b) => a + b, 0))
  })

  it("re-drives the dead letters of a Kinesis dead-letter stream exactly once", async () => {
    const values = [4, -1, 6, -5, 9]
    const records = readingRecords(values, "d3", 200, "shardId-000000000001", 2n * 10n ** 20n)
    const { deadLetters } = await processBroken(records)
    expect(deadLetters).toHaveLength(2)
    // The Kinesis sink as an entry uses it: encode's JSON, one record per entry.
    await Effect.scoped(Effect.flatMap(DeadLetterSinks.makeKinesis({ streamName: DLQ }), (sink) => sink.send(deadLetters))).pipe(
      Effect.provide(Kinesis.layer({ region: "us-east-1", endpoint: env.AWS_ENDPOINT_URL_KINESIS! })),
      Effect.runPromise
    )
    expect(await queryTotal("d3")).toBe(4 + 6 + 9)
    expect(await redrive(["--from", `kinesis:${DLQ}`])).toEqual({ read: 2, applied: 2, duplicate: 0, poisoned: 0, failed: 0 })
    expect(await redrive(["--from", `kinesis:${DLQ}`])).toEqual({ read: 2, applied: 0, duplicate: 2, poisoned: 0, failed: 0 })
    expect(await queryTotal("d3")).toBe(values.reduce((a, b) => a + b, 0))
  })

  it("re-drives the dead letters of an SQS dead-letter queue exactly once, deleting what it processed", async () => {
    // SQS in this process (fauxqs: the SQS JSON protocol, in Node), on loopback only.
    const app = buildApp({ logger: false })
    const endpoint = await app.listen({ port: 0, host: "127.0.0.1" })
    const sqs = new SQSClient({ region: "us-east-1", endpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } })
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "readings-dead-letters" }))
      const queueUrl = QueueUrl!
      const waiting = async () =>
        Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] })))
          .Attributes?.ApproximateNumberOfMessages)
      const values = [3, -4, 8, -6, 10]
      const records = readingRecords(values, "d5", 300, "shardId-000000000003", 3n * 10n ** 20n)
      const { deadLetters } = await processBroken(records)
      expect(deadLetters).toHaveLength(2)
      // The SQS sink as an entry uses it, through the real SDK client.
      const sink = DeadLetterSinks.makeSqs({ client: sqs, queueUrl })
      await Effect.runPromise(sink.send(deadLetters))
      expect(await waiting()).toBe(2)
      expect(await queryTotal("d5")).toBe(3 + 8 + 10)

      const sqsEnv = { ...env, AWS_ENDPOINT_URL_SQS: endpoint }
      const redriveSqs = async () => {
        const r = await eddy(["redrive", "--pipelines", fixture, "--dedup-namespace", NAMESPACE, "--json", "--from", `sqs:${queueUrl}`], sqsEnv)
        expect(r.code, r.stderr).toBe(0)
        return JSON.parse(r.stdout.split("\n")[0]!)
      }
      expect(await redriveSqs()).toEqual({ read: 2, applied: 2, duplicate: 0, poisoned: 0, failed: 0 })
      expect(await queryTotal("d5")).toBe(values.reduce((a, b) => a + b, 0))
      // Processed messages are deleted: nothing is left to read.
      expect(await waiting()).toBe(0)
      expect(await redriveSqs()).toEqual({ read: 0, applied: 0, duplicate: 0, poisoned: 0, failed: 0 })
      // The same entries from another source (the stdout sink's lines, say) are duplicates now.
      const file = join(dir, "sqs-dead-letters.jsonl")
      writeFileSync(file, deadLetters.map((entry) => DeadLetterSinks.logLine(entry, "full")).join("\n") + "\n")
      expect(await redrive(["--from", file])).toEqual({ read: 2, applied: 0, duplicate: 2, poisoned: 0, failed: 0 })
      expect(await queryTotal("d5")).toBe(values.reduce((a, b) => a + b, 0))
    } finally {
      sqs.destroy()
      await app.close()
    }
  })

  it("reports entries that are poison still, ready to be re-driven again", async () => {
    const bad = DeadLetterSinks.encode({
      error: "NotJsonError",
      reason: "not JSON",
      payload: new TextEncoder().encode("{oops"),
      partitionKey: "d4",
      shardId: "shardId-000000000002",
      sequenceNumber: "1",
      subSequenceNumber: 0,
      arrivalTime: 0,
      source: STREAM
    })
    const file = join(dir, "poison.jsonl")
    writeFileSync(file, bad + "\n")
    const again = join(dir, "poison-again.jsonl")
    expect(await redrive(["--from", file, "--poisoned", again])).toEqual({ read: 1, applied: 0, duplicate: 0, poisoned: 1, failed: 0 })
    const entry = JSON.parse(readFileSync(again, "utf8"))
    expect(entry).toMatchObject({ error: "NotJsonError", shardId: "shardId-000000000002", sequenceNumber: "1", source: STREAM, partitionKey: "d4" })
  })

  it("stops on SIGINT", async () => {
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    child.kill("SIGINT")
    expect(await exited).toBe(0)
    expect(output).toContain("stopped kinesalite and dynalite")
  })
})
