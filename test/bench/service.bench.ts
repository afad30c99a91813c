/**
 * The service driver's sustained throughput and memory: one worker reads a
 * local 4-shard stream from its start, beside a raw consumer loop that does
 * the same work on the same shards in the same run.
 *
 * - Kinesis: kinesalite in a child process. The records are order events
 *   written as KPL aggregates of 100 (about 50 KB each), which is what lets a
 *   million records fit the emulator in a few minutes.
 * - Each reader runs in a child process of its own (`serviceChild.ts`), so the
 *   CPU and the resident memory it reports are its own: not the emulator's,
 *   nor what writing the stream left in this process. The child is bundled
 *   with esbuild first and run by plain `node`, as the service image runs
 *   its bundle (a TypeScript loader alone would add about 130 MB of RSS).
 * - The raw loop (the baseline): per shard, GetRecords with the SDK client, KPL
 *   aggregates unpacked, JSON.parse, revenue per (product, hour) summed in a Map.
 * - The worker: `Service.layer` with the revenue pipeline (the raw loop's
 *   work, with validation, dedup claims, folded store writes, checkpoints and
 *   leases), the in-memory store and leases, and the in-memory deduper (so the
 *   row measures eddy, not a dedup backend); then the same with the Redis
 *   deduper on 127.0.0.1:6379; then with every commerce pipeline.
 * - Reads: 100 aggregates (10,000 records) per GetRecords, no pause between
 *   calls: the local ceiling, not Kinesis' 2 MB/s per shard.
 *
 * Every reader must end with the same revenue as the events written, which
 * the run checks. Memory is sampled every 100,000 records: resident set, V8
 * heap (reserved and used), external memory, and (first run of each worker,
 * untimed) the heap after a full collection. `EDDY_BENCH_SERVICE_RECORDS` sets how many records (default
 * 1,000,000); `EDDY_BENCH_PROFILE=<dir>` writes a CPU profile of each reader
 * run there (`--cpu-prof`).
 */
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { encodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Kpl from "@eddy/kinesis/Kpl"
import { Effect, Logger, LogLevel } from "effect"
import { build } from "esbuild"
import { spawn } from "node:child_process"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { median, table } from "./measure"
import type { Result } from "./serviceChild"

const TOTAL = Number(process.env.EDDY_BENCH_SERVICE_RECORDS ?? 1_000_000)
const PROFILE = process.env.EDDY_BENCH_PROFILE
const SHARDS = 4
const PER_AGGREGATE = 100
const READ_LIMIT = 100
const WAVE = 10_000
const RUNS = 4
const STREAM = "bench-orders"
const here = dirname(fileURLToPath(import.meta.url))

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10

/** A child process running `script` (`.ts` through tsx): its stdout's last line, or a failure with its exit code. */
const child = (script: string, args: ReadonlyArray<string>, env: Record<string, string>, onLine?: (line: string) => boolean) =>
  Effect.async<{ readonly line: string; readonly stop: () => void }, Error>((resume) => {
    const proc = spawn(process.execPath, [...args, ...(script.endsWith(".ts") ? ["--import", "tsx"] : []), script], {
      cwd: here,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    let done = false
    const stop = () => void proc.kill("SIGKILL")
    proc.stdout.on("data", (b: Buffer) => {
      out += b.toString()
      const lines = out.split("\n").filter((l) => l !== "")
      if (!done && onLine !== undefined && lines.length > 0 && onLine(lines[lines.length - 1]!)) {
        done = true
        resume(Effect.succeed({ line: lines[lines.length - 1]!, stop }))
      }
    })
    proc.once("exit", (code) => {
      if (done) return
      done = true
      const lines = out.split("\n").filter((l) => l !== "")
      resume(code === 0 && lines.length > 0 ? Effect.succeed({ line: lines[lines.length - 1]!, stop }) : Effect.fail(new Error(`${script} exited with ${code}`)))
    })
    return Effect.sync(stop)
  })

/** kinesalite in a child process: its endpoint, stopped with the scope. */
const kinesalite = Effect.acquireRelease(
  child(`${here}/kinesaliteChild.ts`, [], {}, (line) => line.startsWith("http")),
  ({ stop }) => Effect.sync(stop)
).pipe(Effect.map(({ line }) => line.trim()))

/** Writes `TOTAL` order events as aggregates of `PER_AGGREGATE`; returns the Kinesis records per shard and the revenue they carry. */
const load = Effect.gen(function*() {
  const kinesis = yield* Kinesis.Kinesis
  yield* kinesis.createStream({ StreamName: STREAM, ShardCount: SHARDS })
  const perShard = new Map<string, number>()
  let revenue = 0
  for (let offset = 0; offset < TOTAL; offset += WAVE) {
    // Same event times every wave: the store holds the same aggregates throughout.
    const events = sampleOrders(Math.min(WAVE, TOTAL - offset), { offset, customers: 50_000 })
    for (const e of events) for (const line of e.order.lineItems) revenue += line.quantity * line.unitPrice
    const aggregates: Array<{ PartitionKey: string; Data: Uint8Array }> = []
    for (let i = 0; i < events.length; i += PER_AGGREGATE) {
      const users = events.slice(i, i + PER_AGGREGATE).map((e) => ({ partitionKey: e.order.id, data: encodeCommerceEvent(e) }))
      aggregates.push({ PartitionKey: users[0]!.partitionKey, Data: Kpl.aggregate(users) })
    }
    const requests: Array<typeof aggregates> = []
    for (let i = 0; i < aggregates.length; i += 40) requests.push(aggregates.slice(i, i + 40))
    yield* Effect.forEach(requests, (Records) =>
      Effect.flatMap(kinesis.putRecords({ StreamName: STREAM, Records }), (out) => {
        if ((out.FailedRecordCount ?? 0) > 0) return Effect.dieMessage(`kinesalite refused ${out.FailedRecordCount} records`)
        for (const r of out.Records!) perShard.set(r.ShardId!, (perShard.get(r.ShardId!) ?? 0) + 1)
        return Effect.void
      }), { concurrency: 4, discard: true })
  }
  return { perShard, revenue }
})

interface Reader {
  readonly label: string
  readonly reader: "raw" | "worker"
  readonly dedup?: "memory" | "redis"
  readonly pipelines?: "revenue" | "commerce"
}

const readers: ReadonlyArray<Reader> = [
  { label: "raw consumer loop (baseline): GetRecords, deaggregate, JSON.parse, Map sums", reader: "raw" },
  { label: "service worker, revenue pipeline, in-memory dedup", reader: "worker", dedup: "memory", pipelines: "revenue" },
  { label: "service worker, revenue pipeline, Redis dedup", reader: "worker", dedup: "redis", pipelines: "revenue" },
  { label: "service worker, 6 commerce pipelines, Redis dedup", reader: "worker", dedup: "redis", pipelines: "commerce" }
]

/** `serviceChild.ts` as one ES module with its dependencies, as the service image ships; returns its path. */
const bundleChild = Effect.promise(async () => {
  const outfile = resolve(here, "../../node_modules/.cache/eddy-bench/serviceChild.mjs")
  await build({
    entryPoints: [`${here}/serviceChild.ts`],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "warning",
    // CommonJS dependencies inside an ES module call `require` for Node's built-in modules.
    banner: { js: `import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);` }
  })
  return outfile
})

/** One run of a reader in its own process. */
const runReader = (script: string, endpoint: string, reader: Reader, sampleGc: boolean) =>
  Effect.gen(function*() {
    const flags = ["--expose-gc", ...(PROFILE !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`] : [])]
    const { line } = yield* child(script, flags, {
      EDDY_BENCH_READER: reader.reader,
      EDDY_BENCH_ENDPOINT: endpoint,
      EDDY_BENCH_STREAM: STREAM,
      EDDY_BENCH_RECORDS: String(TOTAL),
      EDDY_BENCH_READ_LIMIT: String(READ_LIMIT),
      EDDY_BENCH_DEDUP: reader.dedup ?? "",
      EDDY_BENCH_PIPELINES: reader.pipelines ?? "",
      EDDY_BENCH_SAMPLE_GC: sampleGc ? "1" : "0"
    })
    return JSON.parse(line) as Result
  })

export async function run(): Promise<void> {
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const endpoint = yield* kinesalite
    const script = yield* bundleChild
    const program = Effect.gen(function*() {
      const loadStarted = performance.now()
      const { perShard, revenue } = yield* load
      console.log(
        `${TOTAL.toLocaleString("en-US")} order events in ${(TOTAL / PER_AGGREGATE).toLocaleString("en-US")} KPL aggregates over ${SHARDS} shards ` +
          `(${Array.from(perShard.values()).join("/")}), written in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s\n`
      )
      // The first run of each reader collects garbage at each sample to show the live heap; the others are timed
      // undisturbed, the readers taking turns, so a machine that slows down during the benchmark slows them alike.
      const results = yield* Effect.forEach(readers, (reader) =>
        Effect.map(runReader(script, endpoint, reader, true), (memory) => ({ reader, memory, timed: [] as Array<Result> })))
      for (let i = 1; i < RUNS; i++) {
        for (const r of results) r.timed.push(yield* runReader(script, endpoint, r.reader, false))
      }
      for (const { memory, reader, timed } of results) {
        for (const r of [memory, ...timed]) {
          if (r.revenue !== revenue) return yield* Effect.dieMessage(`${reader.label} computed revenue ${r.revenue}, the events carry ${revenue}: the comparison is void`)
        }
      }
      const baseline = median(results[0]!.timed.map((r) => r.rate))
      const baselineCpu = median(results[0]!.timed.map((r) => r.cpuSeconds))
      table(results.map(({ reader, timed }) => {
        const rate = median(timed.map((r) => r.rate))
        const cpu = median(timed.map((r) => r.cpuSeconds))
        return {
          reader: reader.label,
          "records/s": Math.round(rate),
          runs: timed.map((r) => Math.round(r.rate)).join(", "),
          "vs baseline": (rate / baseline).toFixed(2),
          "CPU s": cpu.toFixed(1),
          "CPU vs baseline": (cpu / baselineCpu).toFixed(2),
          "GetRecords calls": timed.map((r) => r.getRecordsCalls).join(", ")
        }
      }))
      console.log(`\n(target: the in-memory dedup worker at >= 0.60x the raw loop's records/s)`)
      for (const { memory, reader } of results) {
        console.log(`\nMemory of ${reader.label} (its own process; first run, ${Math.round(memory.rate)} records/s with its forced collections):\n`)
        table(memory.samples.map((s) => ({
          records: s.records,
          "at s": s.seconds.toFixed(1),
          "RSS MB": mb(s.rss),
          "heap total MB": mb(s.heapTotal),
          "heap used MB": mb(s.heapUsed),
          "external MB": mb(s.external),
          "heap after GC MB": s.heapAfterGc === undefined ? "-" : mb(s.heapAfterGc)
        })))
      }
      console.log(`\n(target: worker RSS <= 300 MB, flat from 100,000 to 1,000,000 records; the in-memory deduper holds every claim, so its row grows by design)`)
      if (TOTAL < 1_000_000) console.log(`\n(${TOTAL.toLocaleString("en-US")} records, set by EDDY_BENCH_SERVICE_RECORDS; the default is 1,000,000)`)
    })
    // Warnings and errors only.
    yield* program.pipe(Effect.provide(Kinesis.layer({ endpoint })), Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  })))
}
