/**
 * Measures the Lambda bundle's cold start on this machine: in fresh Node
 * processes, the time to import `dist/lambda.mjs` and to answer the first
 * (empty) event, which builds the handler's runtime (configuration, DynamoDB
 * client, store, deduper, dead-letter sink; no network call). Beside it, the
 * same measures for an empty module, so Node's own start-up can be told apart.
 *
 * Run `pnpm --filter @eddy/commerce-analytics cold-start [runs]` (it bundles first).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { bundle, type Options } from "./bundle"

/** What one fresh process reports, in milliseconds. */
export interface Sample {
  /** `import()` of the module. */
  readonly importMillis: number
  /** The first `handler` call on an event with no records. */
  readonly firstCallMillis: number
  /** From spawning the process to its exit. */
  readonly processMillis: number
  /** What the handler answered. */
  readonly response: unknown
}

// Runs in the child: times the import and the first call with the process's own clock.
const probe = `
const [file] = process.argv.slice(1)
const t0 = performance.now()
const module = await import(file)
const t1 = performance.now()
const context = { awsRequestId: "cold-start", getRemainingTimeInMillis: () => 60000 }
const response = module.handler ? await module.handler({ Records: [] }, context) : null
const t2 = performance.now()
process.stdout.write(JSON.stringify({ importMillis: t1 - t0, firstCallMillis: t2 - t1, response }))
`

/** Configuration the handler needs to build its runtime; nothing is called, so the names need not exist. */
export const handlerEnv = {
  AWS_REGION: "us-east-1",
  EDDY_AGGREGATE_TABLE: "cold-start-aggregates",
  EDDY_DEDUP_TABLE: "cold-start-dedup",
  EDDY_DEAD_LETTER: "stdout"
}

/** Imports `file` in a fresh Node process and calls its `handler` (if any) with an empty event. */
export const sample = (file: string): Sample => {
  const started = performance.now()
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", probe, pathToFileURL(file).href], {
    env: { PATH: process.env.PATH ?? "", ...handlerEnv },
    encoding: "utf8"
  })
  const processMillis = performance.now() - started
  if (child.status !== 0) throw new Error(`importing ${file} failed (exit ${child.status}):\n${child.stderr}`)
  return { ...(JSON.parse(child.stdout) as Omit<Sample, "processMillis">), processMillis }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Medians, in milliseconds, of fresh processes importing an empty module and the bundle. */
export interface ColdStart {
  readonly bytes: number
  readonly runs: number
  readonly empty: (pick: (s: Sample) => number) => number
  readonly lambda: (pick: (s: Sample) => number) => number
}

/** Bundles the Lambda handler, then samples it and an empty module `runs` times each, interleaved. */
export const coldStart = async (runs: number, options?: Options): Promise<ColdStart> => {
  const bundled = await bundle("lambda", options)
  const dir = mkdtempSync(join(tmpdir(), "eddy-cold-start-"))
  const empty = join(dir, "empty.mjs")
  writeFileSync(empty, "export {}\n")
  const baseline: Array<Sample> = []
  const lambda: Array<Sample> = []
  // Interleaved, so a busy moment of the machine weighs on both alike.
  for (let i = 0; i < runs; i++) {
    baseline.push(sample(empty))
    lambda.push(sample(bundled.outfile))
  }
  rmSync(dir, { recursive: true })
  return {
    bytes: bundled.bytes,
    runs,
    empty: (pick) => median(baseline.map(pick)),
    lambda: (pick) => median(lambda.map(pick))
  }
}

/** Import plus the first call, the figure a cold start adds to Node's own start-up. */
export const importAndFirstCall = (s: Sample): number => s.importMillis + s.firstCallMillis

const isMain = process.argv[1] !== undefined && import.meta.filename === process.argv[1]

if (isMain) {
  const measured = await coldStart(Number(process.argv[2] ?? 15))
  const row = (label: string, pick: (s: Sample) => number) => {
    const b = measured.empty(pick)
    const l = measured.lambda(pick)
    return `${label.padEnd(40)} ${b.toFixed(1).padStart(10)} ${l.toFixed(1).padStart(10)} ${(l - b).toFixed(1).padStart(10)}`
  }
  console.log(`dist/lambda.mjs: ${(measured.bytes / 1024).toFixed(0)} KiB; medians of ${measured.runs} fresh processes each, milliseconds`)
  console.log(`${"".padEnd(40)} ${"empty".padStart(10)} ${"lambda".padStart(10)} ${"added".padStart(10)}`)
  console.log(row("import", (s) => s.importMillis))
  console.log(row("first call, empty event (builds runtime)", (s) => s.firstCallMillis))
  console.log(row("import + first call", importAndFirstCall))
  console.log(row("whole process, spawn to exit", (s) => s.processMillis))
}
