/** Small helpers shared by the benchmarks: medians of repeated runs, and tables with ratios. */

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs `body` `warmup` times unmeasured, then `runs` times; returns the median in milliseconds. */
export const medianMillis = async (body: () => unknown | Promise<unknown>, runs = 15, warmup = 3): Promise<number> =>
  (await medianTimes(body, runs, warmup)).wall

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

export const medianTimes = async (body: () => unknown | Promise<unknown>, runs = 15, warmup = 3): Promise<Times> => {
  for (let i = 0; i < warmup; i++) await body()
  const wall: Array<number> = []
  const cpu: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const usage = process.cpuUsage()
    const start = performance.now()
    await body()
    wall.push(performance.now() - start)
    const used = process.cpuUsage(usage)
    cpu.push((used.user + used.system) / 1000)
  }
  return { wall: median(wall), cpu: median(cpu) }
}

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
