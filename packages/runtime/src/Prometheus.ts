/**
 * Effect metrics in the Prometheus text exposition format (version 0.0.4),
 * for a `/metrics` endpoint: one `# HELP` and `# TYPE` per metric name, then a
 * sample per tag set. Counters and gauges keep their names; histograms become
 * `_bucket{le=...}`, `_sum` and `_count`, summaries `{quantile=...}`, `_sum`
 * and `_count`; a frequency is a counter with one sample per `value`.
 */
import { Effect, Metric, type MetricPair, MetricState, Option } from "effect"

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

const samples = (name: string, tags: ReadonlyArray<readonly [string, string]>, state: MetricState.MetricState.Untyped): Array<string> => {
  if (MetricState.isCounterState(state)) return [`${name}${labels(tags)} ${number(state.count)}`]
  if (MetricState.isGaugeState(state)) return [`${name}${labels(tags)} ${number(state.value)}`]
  if (MetricState.isFrequencyState(state)) {
    return Array.from(state.occurrences, ([value, n]) => `${name}${labels([...tags, ["value", value]])} ${n}`)
  }
  if (MetricState.isHistogramState(state)) {
    // Effect's buckets are already cumulative, as Prometheus wants them.
    const out = state.buckets.map(([le, n]) => `${name}_bucket${labels([...tags, ["le", number(le)]])} ${n}`)
    if (state.buckets.at(-1)?.[0] !== Number.POSITIVE_INFINITY) out.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
    out.push(`${name}_sum${labels(tags)} ${number(state.sum)}`, `${name}_count${labels(tags)} ${state.count}`)
    return out
  }
  if (MetricState.isSummaryState(state)) {
    const out: Array<string> = []
    for (const [q, value] of state.quantiles) {
      if (Option.isSome(value)) out.push(`${name}${labels([...tags, ["quantile", String(q)]])} ${number(value.value)}`)
    }
    out.push(`${name}_sum${labels(tags)} ${number(state.sum)}`, `${name}_count${labels(tags)} ${state.count}`)
    return out
  }
  return []
}

/**
 * Renders metric pairs (e.g. `Metric.unsafeSnapshot()`). Pairs that share a
 * name are one family; a pair whose kind differs from its family's first is
 * left out, since one name cannot have two types in the format.
 */
export const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const { metricKey, metricState } of pairs) {
    const name = metricName(metricKey.name)
    const kind = kindOf(metricState)
    let family = families.get(name)
    if (family === undefined) families.set(name, family = { kind, help: Option.getOrUndefined(metricKey.description), series: [] })
    else if (family.kind !== kind) continue
    const tags = metricKey.tags.map((t) => [t.key, t.value] as const)
    family.series.push({ tags: labels(tags), lines: samples(name, tags, metricState) })
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

/** Every metric of the global registry, rendered. */
export const snapshot: Effect.Effect<string> = Effect.map(Metric.snapshot, render)
