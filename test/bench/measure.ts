/** Small helpers shared by the benchmarks: medians of repeated runs, and tables with ratios. */
import { setTimeout as sleep } from "node:timers/promises"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Medians of wall-clock and of process CPU time (every thread, so garbage
 * collection helpers count) in milliseconds. On a machine shared with other
 * work the wall clock includes waiting for a core; CPU time mostly does not,
 * so its ratios are the steadier ones there.
 */
export interface Times {
  readonly wall: number
  readonly cpu: number
}

/** What one row of a benchmark times: `body`, after an untimed `setup` (fresh state) and before an untimed `teardown`. */
export interface Timed<S = void> {
  readonly body: (state: S) => unknown | Promise<unknown>
  readonly setup?: () => S | Promise<S>
  readonly teardown?: (state: S) => unknown | Promise<unknown>
}

/**
 * Times several bodies in turns, `warmup` rounds unmeasured, then `runs`
 * rounds, each timing every body once: a machine whose speed drifts during
 * the benchmark slows every body alike, so their ratios hold. A full
 * collection before each body, untimed, keeps one body from paying for the
 * garbage of the one before. The medians come back in the order of `timed`.
 */
export const medianTimesInTurns = async (timed: ReadonlyArray<Timed<any>>, runs = 15, warmup = 3): Promise<Array<Times>> => {
  const collectGarbage = exposedGc()
  const wall = timed.map((): Array<number> => [])
  const cpu = timed.map((): Array<number> => [])
  for (let round = 0; round < warmup + runs; round++) {
    for (const [i, t] of timed.entries()) {
      const state = await t.setup?.()
      await collectGarbage()
      const usage = process.cpuUsage()
      const start = performance.now()
      await t.body(state)
      const elapsed = performance.now() - start
      const used = process.cpuUsage(usage)
      await t.teardown?.(state)
      if (round < warmup) continue
      wall[i]!.push(elapsed)
      cpu[i]!.push((used.user + used.system) / 1000)
    }
  }
  return timed.map((_, i) => ({ wall: median(wall[i]!), cpu: median(cpu[i]!) }))
}

/**
 * A full collection with V8's `gc()`, exposed at run time (the benchmarks run
 * under tsx, without `--expose-gc` on the command line), then a pause for
 * the sweeping it leaves to helper threads, whose CPU time would otherwise
 * count for the next body.
 */
const exposedGc = (): (() => Promise<void>) => {
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc") as () => void
  return async () => {
    gc()
    await sleep(50)
  }
}

/** The medians of one body (see `medianTimesInTurns`). */
export const medianTimes = async (body: () => unknown | Promise<unknown>, runs = 15, warmup = 3): Promise<Times> =>
  (await medianTimesInTurns([{ body }], runs, warmup))[0]!

/** Prints rows as an aligned table. */
export const table = (rows: ReadonlyArray<Record<string, string | number>>): void => {
  const columns = Object.keys(rows[0] ?? {})
  const cells = rows.map((r) => columns.map((c) => (typeof r[c] === "number" ? format(r[c] as number) : String(r[c]))))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const line = (values: ReadonlyArray<string>) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ")
  console.log(line(columns))
  console.log(line(widths.map((w) => "-".repeat(w))))
  for (const row of cells) console.log(line(row))
}

const format = (x: number): string => (Number.isInteger(x) ? x.toLocaleString("en-US") : x.toFixed(x < 10 ? 2 : 1))
