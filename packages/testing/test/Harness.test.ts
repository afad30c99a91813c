/**
 * The end-to-end test harness on a local Kinesis (kinesalite, in process):
 * streams come up ACTIVE, records are written in order in batches and a
 * refused one fails the test, the in-memory state shows what was sent to it,
 * the environment is restored, a condition that never holds fails naming
 * it, its waits keep to the wall clock in a test on the TestClock, and a
 * program run in its own process is gone with its scope.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Monoid from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import { Kinesis } from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import { Cause, Effect, Exit, Option, Scope } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Harness from "../src/Harness"
import { applyOk, ref, write } from "../src/StoreSuite"

const encoder = new TextEncoder()
const records = (n: number) => Array.from({ length: n }, (_, i) => ({ PartitionKey: `k${i % 3}`, Data: encoder.encode(`r${i}`) }))

describe("Harness", () => {
  it.scopedLive("creates the streams ACTIVE and writes records in order, a batch at a time", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint }, { two: 2, one: 1 })
      const summaries = yield* Effect.forEach(["two", "one"], (name) => kinesis.describeStreamSummary({ StreamName: name }))
      expect(summaries.map((s) => [s.StreamDescriptionSummary?.StreamStatus, s.StreamDescriptionSummary?.OpenShardCount])).toEqual([["ACTIVE", 2], ["ACTIVE", 1]])

      let calls = 0
      const counted = { ...kinesis, putRecords: (input: Parameters<typeof kinesis.putRecords>[0]) => Effect.suspend(() => (calls++, kinesis.putRecords(input))) }
      const written = yield* Harness.putAll("one", records(25), 10).pipe(Effect.provideService(Kinesis, counted))
      expect(calls).toBe(3)
      expect(written).toHaveLength(25)
      // One shard: the sequence numbers rise in the order of the records.
      const sequence = written.map((r) => BigInt(r.SequenceNumber!))
      expect(sequence).toEqual([...sequence].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    }))

  it.scopedLive("dies when the stream refuses a record", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint }, { s: 1 })
      const refusing = { ...kinesis, putRecords: () => Effect.succeed({ FailedRecordCount: 1, Records: [], $metadata: {} }) }
      const exit = yield* Effect.exit(Harness.putAll("s", records(2)).pipe(Effect.provideService(Kinesis, refusing)))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "")).toContain("s refused 1 records")
    }))

  it.effect("keeps state in memory where the test reads it", () =>
    Effect.gen(function*() {
      const state = Harness.memoryState()
      const item = ref("p")
      const entry: DeadLetter.DeadLetterEntry = {
        error: "InvalidEventError",
        reason: "broken",
        payload: encoder.encode("{}"),
        partitionKey: "k",
        shardId: "shard-0",
        sequenceNumber: "1",
        subSequenceNumber: 0,
        arrivalTime: 0
      }
      yield* Effect.gen(function*() {
        yield* applyOk(yield* Store.Store, [write(Monoid.sum, item, "shard-0", 1, [2, 3])])
        yield* Effect.flatMap(DeadLetter.DeadLetter, (sink) => sink.send([entry]))
      }).pipe(Effect.provide(state.layer))
      expect(yield* state.store.getMany(Monoid.sum, [item])).toEqual([Option.some(5)])
      expect(state.deadLetters).toEqual([entry])
    }))

  it.effect("sets the environment for the scope and restores it, unset variables unset again", () =>
    Effect.gen(function*() {
      process.env.HARNESS_TEST_SET = "before"
      delete process.env.HARNESS_TEST_UNSET
      const scope = yield* Scope.make()
      yield* Harness.withEnv({ HARNESS_TEST_SET: "during", HARNESS_TEST_UNSET: "during" }).pipe(Scope.extend(scope))
      expect([process.env.HARNESS_TEST_SET, process.env.HARNESS_TEST_UNSET]).toEqual(["during", "during"])
      yield* Scope.close(scope, Exit.void)
      expect(process.env.HARNESS_TEST_SET).toBe("before")
      expect("HARNESS_TEST_UNSET" in process.env).toBe(false)
      delete process.env.HARNESS_TEST_SET
    }))

  it.live("waits for a condition, and fails naming it when it never holds", () =>
    Effect.gen(function*() {
      let asked = 0
      yield* Harness.until(Effect.sync(() => ++asked >= 3), "asked three times", { interval: "1 millis" })
      expect(asked).toBe(3)
      const error = yield* Effect.flip(Harness.until(Effect.succeed(false), "never", { timeout: "50 millis", interval: "5 millis" }))
      expect(error.message).toBe("timed out after 50ms waiting until never")
    }))

  it.live("asks again after a check that fails, and names the failure if it lasts to the timeout", () =>
    Effect.gen(function*() {
      let asked = 0
      const flaky = Effect.suspend(() => ++asked < 3 ? Effect.fail("connection reset") : Effect.succeed(true))
      yield* Harness.until(flaky, "the check passes", { interval: "1 millis" })
      expect(asked).toBe(3)
      const error = yield* Effect.flip(Harness.until(Effect.fail("connection reset"), "never", { timeout: "50 millis", interval: "5 millis" }))
      expect(error.message).toBe("timed out after 50ms waiting until never; the last check failed: connection reset")
    }))

  it.scoped("keeps to the wall clock in a test on the TestClock: its waits end though nobody advances that clock", () =>
    Effect.gen(function*() {
      let asked = 0
      yield* Harness.until(Effect.sync(() => ++asked >= 3), "asked three times", { interval: "1 millis" })
      expect(asked).toBe(3)
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint }, {})
      let described = 0
      const creating = {
        ...kinesis,
        // The stream reads CREATING twice, as a busy emulator may report it, before its real status.
        describeStreamSummary: (input: Parameters<typeof kinesis.describeStreamSummary>[0]) =>
          Effect.suspend(() =>
            ++described <= 2
              ? Effect.succeed({ StreamDescriptionSummary: { StreamStatus: "CREATING" }, $metadata: {} } as never)
              : kinesis.describeStreamSummary(input)
          )
      }
      yield* Harness.createStream("slow", 1).pipe(Effect.provideService(Kinesis, creating))
      expect(described).toBe(3)
    }))

  it.scopedLive("runs a program in its own process with exactly the environment given, and kills it with the scope", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "eddy-harness-"))),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
      )
      const program = join(dir, "program.ts")
      writeFileSync(program, "console.log(JSON.stringify({ greeting: process.env.GREETING, home: process.env.HOME ?? null }))\nsetInterval(() => {}, 1_000)\n")
      const root = fileURLToPath(new URL("../../../", import.meta.url))
      const scope = yield* Scope.make()
      const run = yield* Harness.spawnProgram(program, { cwd: root, env: { GREETING: "hello" } }).pipe(Scope.extend(scope))
      yield* Harness.until(Effect.sync(() => run.output().includes("\n")), "the program printed its line", { timeout: "30 seconds" })
      expect(JSON.parse(run.output())).toEqual({ greeting: "hello", home: null })
      yield* Scope.close(scope, Exit.void)
      expect(run.child.signalCode).toBe("SIGKILL")
      expect(yield* Effect.promise(() => run.exited)).toEqual({ code: null, signal: "SIGKILL" })
    }))
})
