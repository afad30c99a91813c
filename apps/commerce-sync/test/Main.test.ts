/**
 * The commerce-sync entry as a real process: a bad configuration is reported
 * all at once and exits 1; a good one logs JSON lines only, one per request.
 */
import { describe, expect, it } from "@effect/vitest"
import { Kinesalite } from "@eddy/local"
import { Effect, Schedule } from "effect"
import { fileURLToPath } from "node:url"
import { layer as kinesisLayer } from "@eddy/kinesis/Kinesis"
import * as Harness from "@eddy/testing/Harness"
import { createStream } from "./support/kinesis"

const entry = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const root = fileURLToPath(new URL("../../../", import.meta.url))

const start = (env: Record<string, string>) => Harness.spawnProgram(entry, { cwd: root, env })

describe("commerce-sync main", () => {
  it.scopedLive("three bad variables: one JSON error line naming all three with their meaning, exit 1", () =>
    Effect.gen(function*() {
      const run = yield* start({ PORT: "99999", KINESIS_INSERT_RATE_LIMIT: "lots" })
      const exit = yield* Effect.promise(() => run.exited).pipe(Effect.timeout("60 seconds"))
      expect(exit).toEqual({ code: 1, signal: null })
      const lines = run.output().trim().split("\n")
      expect(lines).toHaveLength(1)
      const line = JSON.parse(lines[0]!)
      expect(line).toMatchObject({ level: "ERROR", service: "commerce-sync" })
      expect(line.problems).toHaveLength(4)
      expect(line.problems[0]).toBe("PORT must be a network port (got \"99999\"): the port to listen on (default 8080)")
      expect(line.problems.slice(1, 3)).toEqual([
        "KINESIS_PRODUCT_STREAM is not set: the Kinesis stream of product events",
        "KINESIS_ORDERS_STREAM is not set: the Kinesis stream of order events"
      ])
      expect(line.problems[3]).toMatch(/^KINESIS_INSERT_RATE_LIMIT .*: the most events sent per period across all streams, e\.g\. 100\/m$/)
    }))

  it.scopedLive("logs JSON lines only: the address it listens on, and one access log line per request", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      yield* Effect.provide(Effect.zipRight(createStream("products", 1), createStream("orders", 1)), kinesisLayer({ endpoint }))
      const port = yield* Harness.freePort
      const run = yield* start({
        AWS_REGION: "us-east-1",
        AWS_ENDPOINT_URL_KINESIS: endpoint,
        KINESIS_PRODUCT_STREAM: "products",
        KINESIS_ORDERS_STREAM: "orders",
        PORT: String(port)
      })
      const healthz = yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/healthz?probe=1`)).pipe(
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds")))
      )
      expect(healthz.status).toBe(200)
      yield* Effect.sleep("200 millis")
      run.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => run.exited)).toEqual({ code: 0, signal: null })
      const lines = run.output().trim().split("\n")
      const logs = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(logs.every((l) => typeof l.level === "string" && typeof l.message === "string" && l.service === "commerce-sync")).toBe(true)
      expect(logs).toContainEqual(expect.objectContaining({ message: "http request", http_method: "GET", http_path: "/healthz", http_status: 200 }))
      expect(run.output()).not.toContain("NodeVersionSupportWarning")
    }))
}, { timeout: 120_000 })
