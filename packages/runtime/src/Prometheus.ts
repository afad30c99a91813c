/**
 * Effect metrics in the Prometheus text exposition format (version 0.0.4),
 * for a `/metrics` endpoint: one `# HELP` and `# TYPE` per metric name, then a
 * sample per tag set. Histograms become `_bucket{le=...}`, `_sum` and
 * `_count`, summaries `{quantile=...}`, `_sum` and `_count`; a frequency is a
 * counter with one sample per `value`.
 *
 * Names follow Prometheus's conventions whatever the Effect metric is called
 * (the same metrics go to CloudWatch EMF under their own names): counters end
 * in `_total`, and durations are in seconds, so a metric named `..._ms` or
 * `..._millis` (or with a `millis` word, like `eddy_kinesis_millis_behind_latest`),
 * and an Effect timer (tagged `time_unit`), is renamed `..._seconds` with
 * its values (and bucket bounds) divided by 1,000. `snapshot` adds the
 * process metrics of the Prometheus client libraries:
 * `process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `process_start_time_seconds`, `nodejs_heap_size_used_bytes`,
 * `nodejs_heap_size_total_bytes`, `nodejs_external_memory_bytes`.
 */
import { Effect, Metric, type MetricPair, MetricState, Option } from "effect"

/** The content type of the Prometheus text format. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

type Kind = "counter" | "gauge" | "histogram" | "summary"

interface Family {
  readonly kind: Kind
  readonly help: string | undefined
  /** Samples per tag set, kept together so a histogram's buckets stay in order. */
  readonly series: Array<{ readonly tags: string; readonly lines: ReadonlyArray<string> }>
}

/** Prometheus names allow `[a-zA-Z_:][a-zA-Z0-9_:]*`; label names the same without `:`. */
const metricName = (name: string): string => name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^(?=[0-9])/, "_")
const labelName = (name: string): string => name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^(?=[0-9])/, "_")
const labelValue = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")
const helpText = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const number = (n: number | bigint): string => {
  if (typeof n === "bigint") return n.toString()
  if (Number.isNaN(n)) return "NaN"
  if (n === Number.POSITIVE_INFINITY) return "+Inf"
  if (n === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(n)
}

const labels = (pairs: ReadonlyArray<readonly [string, string]>): string =>
  pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${labelName(k)}="${labelValue(v)}"`).join(",")}}`

const kindOf = (state: MetricState.MetricState.Untyped): Kind => {
  if (MetricState.isGaugeState(state)) return "gauge"
  if (MetricState.isHistogramState(state)) return "histogram"
  if (MetricState.isSummaryState(state)) return "summary"
  return "counter"
}

/** Divides by 1,000 for metrics kept in milliseconds; bigints (counts) are left alone. */
const scaled = (n: number | bigint, scale: number): number | bigint => (typeof n === "bigint" || scale === 1 ? n : n / scale)

const samples = (name: string, tags: ReadonlyArray<readonly [string, string]>, state: MetricState.MetricState.Untyped, scale: number): Array<string> => {
  if (MetricState.isCounterState(state)) return [`${name}${labels(tags)} ${number(scaled(state.count, scale))}`]
  if (MetricState.isGaugeState(state)) return [`${name}${labels(tags)} ${number(scaled(state.value, scale))}`]
  if (MetricState.isFrequencyState(state)) {
    return Array.from(state.occurrences, ([value, n]) => `${name}${labels([...tags, ["value", value]])} ${n}`)
  }
  if (MetricState.isHistogramState(state)) {
    // Effect's buckets are already cumulative, as Prometheus wants them.
    const out = state.buckets.map(([le, n]) => `${name}_bucket${labels([...tags, ["le", number(scaled(le, scale))]])} ${n}`)
    if (state.buckets.at(-1)?.[0] !== Number.POSITIVE_INFINITY) out.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
    out.push(`${name}_sum${labels(tags)} ${number(scaled(state.sum, scale))}`, `${name}_count${labels(tags)} ${state.count}`)
    return out
  }
  if (MetricState.isSummaryState(state)) {
    const out: Array<string> = []
    for (const [q, value] of state.quantiles) {
      if (Option.isSome(value)) out.push(`${name}${labels([...tags, ["quantile", String(q)]])} ${number(scaled(value.value, scale))}`)
    }
    out.push(`${name}_sum${labels(tags)} ${number(scaled(state.sum, scale))}`, `${name}_count${labels(tags)} ${state.count}`)
    return out
  }
  return []
}

/**
 * The Prometheus name of an Effect metric, and what its values are divided
 * by: milliseconds become seconds, counters end in `_total`.
 */
export const conventionalName = (
  name: string,
  kind: Kind,
  tags: ReadonlyArray<readonly [string, string]> = []
): { readonly name: string; readonly scale: number; readonly tags: ReadonlyArray<readonly [string, string]> } => {
  let base = metricName(name)
  let scale = 1
  let rest = tags
  const timer = tags.find(([k]) => k === "time_unit")
  if (timer !== undefined) {
    rest = tags.filter(([k]) => k !== "time_unit")
    scale = timer[1] === "milliseconds" ? 1_000 : timer[1] === "microseconds" ? 1_000_000 : timer[1] === "nanoseconds" ? 1e9 : 1
    if (!base.endsWith("_seconds")) base = `${base}_seconds`
  } else {
    const words = base.split("_")
    const unit = words.findIndex((w, i) => i > 0 && (w === "ms" || w === "millis" || w === "milliseconds"))
    if (unit > 0) {
      words.splice(unit, 1)
      base = `${words.join("_")}_seconds`
      scale = 1_000
    }
  }
  if (kind === "counter" && !base.endsWith("_total")) base = `${base}_total`
  return { name: base, scale, tags: rest }
}

/**
 * Renders metric pairs (e.g. `Metric.unsafeSnapshot()`). Pairs that share a
 * name are one family; a pair whose kind differs from its family's first is
 * left out, since one name cannot have two types in the format.
 */
export const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const { metricKey, metricState } of pairs) {
    const kind = kindOf(metricState)
    const { name, scale, tags } = conventionalName(metricKey.name, kind, metricKey.tags.map((t) => [t.key, t.value] as const))
    let family = families.get(name)
    if (family === undefined) families.set(name, family = { kind, help: Option.getOrUndefined(metricKey.description), series: [] })
    else if (family.kind !== kind) continue
    family.series.push({ tags: labels(tags), lines: samples(name, tags, metricState, scale) })
  }
  const out: Array<string> = []
  for (const name of Array.from(families.keys()).sort()) {
    const family = families.get(name)!
    if (family.help !== undefined) out.push(`# HELP ${name} ${helpText(family.help)}`)
    out.push(`# TYPE ${name} ${family.kind}`)
    for (const series of family.series.sort((a, b) => (a.tags < b.tags ? -1 : a.tags > b.tags ? 1 : 0))) out.push(...series.lines)
  }
  return out.length === 0 ? "" : out.join("\n") + "\n"
}

/** This process's CPU time, memory and start time, named as the Prometheus client libraries name them. */
export const processMetrics = (): string => {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const family = (name: string, kind: Kind, help: string, value: number) => `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n${name} ${number(value)}\n`
  return [
    family("nodejs_external_memory_bytes", "gauge", "memory of C++ objects bound to JavaScript objects, bytes", memory.external),
    family("nodejs_heap_size_total_bytes", "gauge", "V8 heap size, bytes", memory.heapTotal),
    family("nodejs_heap_size_used_bytes", "gauge", "V8 heap in use, bytes", memory.heapUsed),
    family("process_cpu_seconds_total", "counter", "user and system CPU time spent, seconds", (cpu.user + cpu.system) / 1e6),
    family("process_resident_memory_bytes", "gauge", "resident memory size, bytes", memory.rss),
    family("process_start_time_seconds", "gauge", "start time of the process since the Unix epoch, seconds", Math.round(Date.now() / 1000 - process.uptime()))
  ].join("")
}

/** Every metric of the global registry, rendered, then the process metrics. */
export const snapshot: Effect.Effect<string> = Effect.map(Metric.snapshot, (pairs) => render(pairs) + processMetrics())
