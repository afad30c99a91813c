/**
 * The write-ahead log across real crashes: a producer process
 * (`fixtures/walProducer.ts`) writing unique events to kinesalite (which
 * lives in this test process, so the stream outlives every producer) is
 * SIGKILLed at random points while it writes and restarted on the same log
 * directory, several times; a last run sends what the log still holds. Then
 * every event the producers reported accepted must be in the stream, and
 * eddy's processor (in-memory store and deduper) over the whole stream must
 * count each event exactly once, duplicates from resending included.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Decoder from "@eddy/core/Decoder"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import { Kinesalite } from "@eddy/local"
import { Effect, Layer, Option, Schedule, Schema } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { layer as kinesisLayer } from "../src/Kinesis"
import { createStream, readAll } from "./support/Stream"
import { bundle } from "../../../test/support/program"

const KILLS = 6
const program = await bundle(fileURLToPath(new URL("./fixtures/walProducer.ts", import.meta.url)))
const root = fileURLToPath(new URL("../../..", import.meta.url))
const decoder = new TextDecoder()

const Sale = Schema.Struct({ type: Schema.Literal("sale"), eventId: Schema.String, at: Schema.Number, item: Schema.String })
const Sales: Pipeline.EventSource<typeof Sale.Type> = {
  name: "sales",
  decoder: Decoder.json(Sale),
  eventId: (e) => e.eventId,
  eventTime: (e) => e.at
}
const salesByItem = Pipeline.make({ name: "sales_by_item", source: Sales, events: ["sale"], key: (e) => e.item, value: () => 1, aggregate: Monoid.count })

interface Run {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const start = (args: ReadonlyArray<string>): Run => {
  const child = spawn(process.execPath, [program, ...args], { cwd: root, env: process.env, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout!.on("data", (b: Buffer) => void (output += b.toString()))
  child.stderr!.on("data", (b: Buffer) => void (output += b.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })))
  return { child, output: () => output, exited }
}

/** A producer process for the scope; killed if still running when the scope closes. */
const spawnProducer = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(Effect.sync(() => start(args)), (run) =>
    Effect.promise(() => {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL")
      return run.exited
    }))

const waitFor = (run: Run, line: string) =>
  Effect.sync(() => run.output().includes(`${line}\n`)).pipe(
    Effect.repeat({ until: (seen) => seen || run.child.exitCode !== null, schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`the producer never printed ${line}: ${run.output().slice(-2000)}`) }),
    Effect.flatMap((seen) => seen ? Effect.void : Effect.fail(new Error(`the producer exited before ${line}: ${run.output().slice(-2000)}`)))
  )

/** Ids the producer reported accepted: whole lines only, as a kill can cut the last one short. */
const acceptedIn = (output: string) =>
  output.split("\n").slice(0, -1).filter((l) => l.startsWith("A ")).map((l) => l.slice(2))

const eventIdOf = (data: Uint8Array) => (JSON.parse(decoder.decode(data)) as { eventId: string }).eventId

describe("write-ahead log across SIGKILL", () => {
  it.scopedLive(`a producer killed ${KILLS} times while writing loses no accepted event, and eddy counts each once`, () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = kinesisLayer({ endpoint })
      const stream = "sales"
      yield* createStream(stream, 2).pipe(Effect.provide(kinesis))
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eddy-wal-crash-"))),
        (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
      )
      const accepted = new Set<string>()
      /** Accepted events not in the stream when their producer died: only the log could still send them. */
      let pendingAtKills = 0
      const kills: Array<number> = []
      for (let k = 0; k < KILLS; k++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const run = yield* spawnProducer([endpoint, stream, dir, `run${k}`])
          yield* waitFor(run, "ready")
          const delay = Math.floor(Math.random() * 600)
          yield* Effect.sleep(delay)
          run.child.kill("SIGKILL")
          expect(yield* Effect.promise(() => run.exited)).toEqual({ code: null, signal: "SIGKILL" })
          kills.push(delay)
          const ids = acceptedIn(run.output())
          for (const id of ids) accepted.add(id)
          const inStream = new Set((yield* readAll(stream).pipe(Effect.provide(kinesis))).map((r) => eventIdOf(r.data)))
          pendingAtKills += ids.filter((id) => !inStream.has(id)).length
        }))
      }
      yield* Effect.scoped(Effect.gen(function*() {
        const run = yield* spawnProducer([endpoint, stream, dir, "drain", "drain"])
        yield* waitFor(run, "drained")
        expect(yield* Effect.promise(() => run.exited)).toEqual({ code: 0, signal: null })
      }))

      const stored = yield* readAll(stream).pipe(Effect.provide(kinesis))
      const ids = stored.map((r) => eventIdOf(r.data))
      const distinct = new Set(ids)
      const missing = [...accepted].filter((id) => !distinct.has(id))
      console.log(
        `write-ahead log crash test: ${accepted.size} events accepted over ${KILLS} SIGKILLs (after ${kills.join(", ")} ms), `
          + `${pendingAtKills} of them not yet in the stream when their producer died; the stream holds ${stored.length} records, `
          + `${distinct.size} distinct events (${stored.length - distinct.size} sent twice)`
      )
      expect(missing).toEqual([])
      // The kills caught accepted events still unsent: the log, not luck, delivered them.
      expect(pendingAtKills).toBeGreaterThan(0)
      expect(accepted.size).toBeGreaterThan(KILLS)

      // Downstream: the processor over the whole stream, shard by shard in order.
      const expected = new Map<string, number>()
      for (const r of stored) {
        const id = eventIdOf(r.data)
        if (!distinct.delete(id)) continue
        expected.set(r.partitionKey, (expected.get(r.partitionKey) ?? 0) + 1)
      }
      const counted = yield* Effect.gen(function*() {
        const processor = yield* Processor.Processor
        const records: Array<SourceRecord> = stored.map((r) => ({
          data: r.data,
          partitionKey: r.partitionKey,
          shardId: r.shardId,
          sequenceNumber: r.sequenceNumber,
          subSequenceNumber: 0,
          arrivalTime: 0
        }))
        let applied = 0
        let duplicate = 0
        for (let i = 0; i < records.length; i += 500) {
          const result = yield* processor.process(records.slice(i, i + 500), { source: stream })
          expect(result.counts.failed + result.counts.deadLettered).toBe(0)
          applied += result.counts.applied
          duplicate += result.counts.duplicate
        }
        const counts = new Map<string, number>()
        for (const item of expected.keys()) {
          const got = yield* Store.get(Monoid.count, { pipeline: salesByItem.name, key: item, bucket: "all" })
          counts.set(item, Option.getOrElse(got, () => 0))
        }
        console.log(`downstream: ${applied} records applied, ${duplicate} dropped as duplicates; counted ${[...counts.values()].reduce((a, b) => a + b, 0)} events`)
        return counts
      }).pipe(
        Effect.provide(
          Processor.layer({ pipelines: [salesByItem] }).pipe(
            Layer.provideMerge(Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), DeadLetter.layerMemory))
          )
        )
      )
      expect(counted).toEqual(expected)
    }))
})
