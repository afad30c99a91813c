/**
 * What end-to-end tests of pipelines on a local Kinesis (kinesalite) share:
 * a client with its streams created and active, records published in
 * batches, state in memory the test can read, an in-process worker's
 * settings, environment variables for a scope, waiting for a condition, and
 * programs run in their own process on a free port.
 */
import type { PutRecordsRequestEntry, PutRecordsResultEntry } from "@aws-sdk/client-kinesis"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Leases from "@eddy/core/Leases"
import * as Store from "@eddy/core/Store"
import { Kinesis, type KinesisApi, make, type Options } from "@eddy/kinesis/Kinesis"
import { PUT_RECORDS_MAX_RECORDS } from "@eddy/kinesis/Limits"
import * as StreamId from "@eddy/kinesis/StreamId"
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"

/**
 * Emulators and other processes answer in wall-clock time: the harness's waits keep to it, so a test on
 * the TestClock that creates a stream does not hang on a pause nobody advances.
 */
const onWallClock = Effect.withClock(Clock.make())

/** Waits until the stream is ACTIVE (after a create or a reshard), asking every `interval`. */
export const awaitActive = (name: string, interval: Duration.DurationInput = "5 millis") =>
  Effect.flatMap(Kinesis, (kinesis) =>
    kinesis.describeStreamSummary({ StreamName: name }).pipe(
      Effect.repeat({ until: (out) => out.StreamDescriptionSummary?.StreamStatus === "ACTIVE", schedule: Schedule.spaced(interval) }),
      onWallClock
    ))

/** Creates a stream of `shards` shards and waits until it is ACTIVE. */
export const createStream = (name: string, shards: number, interval?: Duration.DurationInput) =>
  Effect.flatMap(Kinesis, (kinesis) => kinesis.createStream({ StreamName: name, ShardCount: shards })).pipe(
    Effect.zipRight(awaitActive(name, interval))
  )

/** A Kinesis client with `options` (a local endpoint) and `streams` (name to shard count) created and active. */
export const kinesisWith = (options: Options, streams: Readonly<Record<string, number>>) =>
  Effect.tap(make(options), (kinesis) =>
    Effect.forEach(Object.entries(streams), ([name, shards]) => createStream(name, shards), { discard: true }).pipe(
      Effect.provideService(Kinesis, kinesis)
    ))

/**
 * Writes `records` to the stream in order, `batchSize` (default the most one
 * PutRecords takes) at a time; dies if the stream refuses any. Returns each
 * record's result entry, in the order of `records`.
 */
export const putAll = (name: string, records: ReadonlyArray<PutRecordsRequestEntry>, batchSize: number = PUT_RECORDS_MAX_RECORDS) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const results: Array<PutRecordsResultEntry> = []
    for (let i = 0; i < records.length; i += batchSize) {
      const out = yield* kinesis.putRecords({ StreamName: name, Records: records.slice(i, i + batchSize) })
      if ((out.FailedRecordCount ?? 0) > 0) return yield* Effect.dieMessage(`${name} refused ${out.FailedRecordCount} records`)
      results.push(...out.Records!)
    }
    return results
  })

/** The state a test reads after the run: an in-memory store and the dead-lettered entries. */
export interface MemoryState {
  readonly store: Store.Service
  readonly deadLetters: ReadonlyArray<DeadLetter.DeadLetterEntry>
  /** The store, an in-memory deduper and a dead-letter sink appending to `deadLetters`. */
  readonly layer: Layer.Layer<Store.Store | Deduper.Deduper | DeadLetter.DeadLetter>
}

/** A store, deduper and dead-letter sink in memory, built outside the code under test so the test can read them. */
export const memoryState = (): MemoryState => {
  const store = Effect.runSync(Store.makeMemory)
  const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
  const layer = Layer.mergeAll(
    Layer.succeed(Store.Store, store),
    Deduper.layerMemory(),
    Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void deadLetters.push(...entries)) })
  )
  return { store, deadLetters, layer }
}

/**
 * The settings of one service worker in this process on `kinesis`: leases
 * in memory, no fixed port, and short poll and discovery intervals so a
 * test sees records within milliseconds. Spread into the service's options.
 */
export const inProcessWorker = (kinesis: KinesisApi, streams: ReadonlyArray<string>) => ({
  leases: Leases.layerMemory(),
  kinesis: Layer.succeed(Kinesis, kinesis),
  streams: streams.map(StreamId.of),
  workerId: "worker-1",
  port: 0,
  pollInterval: Duration.millis(20),
  discoveryInterval: Duration.millis(500)
})

/** Sets environment variables for the scope, restoring what was there when it closes. */
export const withEnv = (vars: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
      Object.assign(process.env, vars)
      return before
    }),
    (before) =>
      Effect.sync(() => {
        for (const [k, v] of Object.entries(before)) {
          if (v === undefined) delete process.env[k]
          else process.env[k] = v
        }
      })
  )

/** How long `until` waits, and how often it asks. */
export interface UntilOptions {
  /** Default 60 seconds. */
  readonly timeout?: Duration.DurationInput
  /** Default 50 milliseconds. */
  readonly interval?: Duration.DurationInput
}

/**
 * Waits for a condition made true elsewhere (another fiber or process); fails, naming `what`, instead of hanging.
 * A check that fails (an emulator's connection reset under load) counts as not yet: asked again, and named in
 * the timeout's message if it is still failing then.
 */
export const until = <E, R>(condition: Effect.Effect<boolean, E, R>, what: string, options: UntilOptions = {}) => {
  const timeout = options.timeout ?? "60 seconds"
  let failure: E | undefined
  const ask = condition.pipe(
    Effect.tap(() => Effect.sync(() => void (failure = undefined))),
    Effect.catchAll((e) => Effect.sync(() => (failure = e, false)))
  )
  return ask.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced(options.interval ?? "50 millis") }),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new Error(`timed out after ${Duration.format(Duration.decode(timeout))} waiting until ${what}${failure === undefined ? "" : `; the last check failed: ${String(failure)}`}`)
    }),
    onWallClock
  )
}

/** A port free right now, to know a program's address before it is up. */
export const freePort: Effect.Effect<number, Error> = Effect.async((resume) => {
  const server = createServer()
  server.once("error", (e) => resume(Effect.fail(e)))
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A program running in its own Node process. */
export interface ChildRun {
  readonly child: ChildProcess
  /** What it wrote to stdout and stderr so far, for assertions and failure messages. */
  readonly output: () => string
  /** Resolves once it has exited, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Sends `signal` to the process unless it has exited already, and waits until it has. */
export const stop = (run: ChildRun, signal: NodeJS.Signals) =>
  Effect.promise(() => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(signal)
    return run.exited
  })

const typeScript = /\.[cm]?ts$/

/**
 * Runs `program` in its own Node process with exactly `env` and PATH (a
 * TypeScript one through tsx, found from `cwd`; a bundle with plain `node`);
 * SIGKILLed, and waited for, if it is still running when the scope closes.
 */
export const spawnProgram = (program: string, options: { readonly cwd: string; readonly env: Readonly<Record<string, string>> }) =>
  Effect.acquireRelease(
    Effect.sync((): ChildRun => {
      const child = spawn(process.execPath, [...(typeScript.test(program) ? ["--import", "tsx"] : []), program], {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? "", ...options.env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout!.on("data", (b: Buffer) => void (output += b.toString()))
      child.stderr!.on("data", (b: Buffer) => void (output += b.toString()))
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, output: () => output, exited }
    }),
    (run) => stop(run, "SIGKILL")
  )
