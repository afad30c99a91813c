/**
 * The service as ECS starts it (the image's bundle of
 * `apps/commerce-analytics/src/service.ts`, a real process) against Kinesis and DynamoDB emulators: what cannot work
 * stops the start with one message saying what to fix and exit code 1, and
 * `/readyz` tells a stuck shard from a healthy one.
 */
import { describe, expect, it } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import * as Harness from "@eddy/testing/Harness"
import { Duration, Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { bundle } from "../../../apps/commerce-analytics/src/bundle"
import * as F from "./fixtures/ServiceFixtures"
import { encode } from "./LambdaFixtures"

const orderRecords = (count: number) => sampleOrders(count, { products: 20, customers: 50 }).map((e) => ({ PartitionKey: e.order.id, Data: encode(e) }))

// The image's own bundle, built once for the file.
const entry = bundle("service", { outdir: mkdtempSync(join(tmpdir(), "eddy-service-")) }).then((b) => b.outfile)
const root = fileURLToPath(new URL("../../../", import.meta.url))

/** The service entry in its own process, with exactly `env` (and PATH); killed with the scope. */
const start = (env: Record<string, string>) => Effect.flatMap(Effect.promise(() => entry), (program) => Harness.spawnProgram(program, { cwd: root, env }))

/** Waits for the process to exit by itself, within `within`; its exit code and its output's JSON lines. */
const exitOf = (run: Harness.ChildRun, within: Duration.DurationInput = "60 seconds") =>
  Effect.promise(() => run.exited).pipe(
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`still running after ${Duration.format(Duration.decode(within))}:\n${run.output()}`) }),
    Effect.map(({ code }) => ({
      code,
      output: run.output(),
      lines: run.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>)
    }))
  )

/** The one error line a failed start prints. */
const errorLine = (lines: ReadonlyArray<Record<string, unknown>>) => {
  const errors = lines.filter((l) => l.level === "ERROR")
  expect(errors, JSON.stringify(errors, null, 1)).toHaveLength(1)
  return errors[0]!
}

const env = (endpoints: F.Endpoints, extra: Record<string, string> = {}) => F.workerEnv(endpoints, { EDDY_DEAD_LETTER: "stdout", ...extra })

/** Emulators with the tables and a one-shard stream. */
const setup = Effect.gen(function*() {
  const endpoints = yield* F.emulators
  yield* Effect.provide(Effect.zipRight(F.ensureTables, F.createStream(F.streamName, 1)), F.durable(endpoints))
  return endpoints
})

describe("service start-up", () => {
  it.scopedLive("three bad variables: all three reported, each with its meaning, in one message; exit 1", () =>
    Effect.gen(function*() {
      const run = yield* start({
        EDDY_AGGREGATE_TABLE: "aggregates",
        EDDY_DEDUP_TABLE: "dedup",
        EDDY_LEASE_TABLE: "leases",
        EDDY_READ_LIMIT: "0",
        EDDY_INITIAL_POSITION: "SOMEWHERE"
      })
      const { code, lines, output } = yield* exitOf(run)
      expect(code).toBe(1)
      const error = errorLine(lines)
      expect(error.problems).toEqual([
        "EDDY_STREAMS or EDDY_STREAM_NAME are not set (one of them is needed): the Kinesis stream the service reads",
        "EDDY_INITIAL_POSITION must be one of (TRIM_HORIZON, LATEST) (got \"SOMEWHERE\"): where a shard without a checkpoint starts: TRIM_HORIZON or LATEST",
        "EDDY_READ_LIMIT must be an integer from 1 to 10000: the most records per GetRecords call, 1 to 10000"
      ])
      expect(error.message).toContain("the configuration is invalid (3 problems)")
      expect(error.service).toBe("commerce-analytics")
      expect(output).not.toContain("Missing data at")
      expect(output).not.toContain("NodeVersionSupportWarning")
    }))

  it.scopedLive("a wrong stream name exits 1 saying the stream does not exist, before taking any lease", () =>
    Effect.gen(function*() {
      const endpoints = yield* setup
      const { code, lines } = yield* exitOf(yield* start(env(endpoints, { EDDY_STREAM_NAME: "ordres" })))
      expect(code).toBe(1)
      expect(errorLine(lines).message).toBe(
        "cannot start: the Kinesis stream ordres does not exist in this account and region: check the stream names (EDDY_STREAMS or EDDY_STREAM_NAME) and the region"
      )
      expect(lines.some((l) => l.message === "worker started")).toBe(false)
    }))

  it.scopedLive("a missing table and a table with another key schema: both in one message, exit 1", () =>
    Effect.gen(function*() {
      const endpoints = yield* setup
      const { code, lines } = yield* exitOf(yield* start(env(endpoints, { EDDY_DEDUP_TABLE: "dedupe", EDDY_LEASE_TABLE: F.tables.aggregate })))
      expect(code).toBe(1)
      const error = errorLine(lines)
      expect(error.message).toContain("cannot start (2 problems)")
      expect(error.message).toContain("the DynamoDB table dedupe does not exist: create it (key id HASH, see template.yaml) or set EDDY_DEDUP_TABLE to the right table")
      expect(error.message).toContain(
        "the DynamoDB table aggregates (EDDY_LEASE_TABLE) has the key schema pk HASH, sk RANGE, but eddy needs leaseKey HASH: point EDDY_LEASE_TABLE at a table made for it"
      )
    }))

  it.scopedLive("Kinesis unreachable (a closed port): exits 1 after a bounded retry, naming the endpoint variable", () =>
    Effect.gen(function*() {
      const endpoints = yield* setup
      const closed = yield* F.freePort
      const began = Date.now()
      const { code, lines } = yield* exitOf(yield* start(env(endpoints, { AWS_ENDPOINT_URL_KINESIS: `http://127.0.0.1:${closed}` })))
      expect(code).toBe(1)
      const message = errorLine(lines).message as string
      expect(message).toMatch(/^cannot start: Kinesis is unreachable \(.*ECONNREFUSED.*\): check the Kinesis endpoint \(AWS_ENDPOINT_URL_KINESIS\) and region/)
      expect(Date.now() - began).toBeLessThan(30_000)
    }))
})

describe("service readiness", () => {
  it.scopedLive("a shard blocked on a record whose dead-letter sink is down turns /readyz 503 after EDDY_STUCK_AFTER, saying which shard", () =>
    Effect.gen(function*() {
      const endpoints = yield* setup
      const port = yield* F.freePort
      const sqs = yield* F.freePort
      const run = yield* start(env(endpoints, {
        PORT: String(port),
        EDDY_STUCK_AFTER: "2 seconds",
        EDDY_DEAD_LETTER: `sqs:http://127.0.0.1:${sqs}/000000000000/dead-letters`,
        AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${sqs}`
      }))
      const readyz = Effect.tryPromise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`)
        return { status: response.status, body: (await response.json()) as { ready: boolean; problems?: ReadonlyArray<string> } }
      })
      const onFailure = Effect.tapError(() => Effect.sync(() => console.error(run.output().slice(-6000))))
      yield* F.until(Effect.map(Effect.either(readyz), (r) => r._tag === "Right" && r.right.status === 200), "the worker is ready").pipe(onFailure)

      // Good records, then one that is not JSON: it must be dead-lettered, and the sink does not answer.
      yield* Effect.provide(F.put(F.streamName, [...orderRecords(3), { PartitionKey: "poison", Data: new TextEncoder().encode("{ not json") }]), F.durable(endpoints))
      yield* F.until(Effect.map(Effect.either(readyz), (r) => r._tag === "Right" && r.right.status === 503), "/readyz reports the stuck shard", "90 seconds").pipe(onFailure)
      const stuck = yield* readyz
      expect(stuck.body.ready).toBe(false)
      expect(stuck.body.problems).toContainEqual(expect.stringMatching(/^shard orders:shardId-000000000000 is stuck: failing for \d+ s \(a record is not done: /))
      // Alive all the same: the orchestrator must not kill it for this, an operator must fix the sink.
      const healthz = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/healthz`))
      expect(healthz.status).toBe(200)
    }))
})
