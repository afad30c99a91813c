/**
 * Comparing a live aggregate table with a shadow one that a replay wrote,
 * pipeline by pipeline: items equal (by the monoid's own equality, so two
 * sketches built in a different order still compare equal), different, missing
 * from the shadow, or only in the shadow; with a few examples of each.
 */
import type { Json } from "@eddy/core/Json"
import type { Monoid } from "@eddy/core/Monoid"
import type * as Pipeline from "@eddy/core/Pipeline"
import { readable } from "@eddy/core/Query"
import * as AggregateScan from "@eddy/dynamodb/AggregateScan"
import { Effect, Stream } from "effect"
import * as Table from "./internal/table"

/** One item that is not the same in both tables; `undefined` where a table lacks it. */
export interface Difference {
  readonly key: string
  readonly bucket: string
  readonly live: Json | undefined
  readonly shadow: Json | undefined
}

/** One pipeline's items, compared. */
export interface Comparison {
  readonly pipeline: string
  readonly equal: number
  readonly different: number
  /** In the live table, not in the shadow. */
  readonly missing: number
  /** In the shadow table, not in the live one. */
  readonly extra: number
  /** Up to `examples` of the items that are not equal. */
  readonly examples: ReadonlyArray<Difference>
}

const id = (item: { readonly pipeline: string; readonly key: string; readonly bucket: string }) => `${item.pipeline}\u0000${item.key}\u0000${item.bucket}`

/**
 * Compares the pipelines' items of two tables. The live table's items are
 * held in memory while the shadow's are scanned; a spread pipeline's
 * sub-items are compared as their one merged item (each table's shards
 * wrote their own sub-items).
 */
export const compare = (live: string, shadow: string, pipelines: ReadonlyArray<Pipeline.Pipeline>, options: { readonly examples?: number } = {}) =>
  Effect.gen(function*() {
    const limit = options.examples ?? 5
    const monoids: Map<string, Monoid<unknown>> = new Map(pipelines.map((p) => [p.name, p.aggregate as Monoid<unknown>]))
    const spread = { spread: new Set(pipelines.flatMap((p) => p.subItemsPerKey === undefined ? [] : [p.name])) }
    const held = new Map<string, AggregateScan.Item>()
    yield* Stream.runForEach(AggregateScan.scan(live, monoids, spread), (item) => Effect.sync(() => void held.set(id(item), item)))
    const comparisons = new Map(pipelines.map((p) => [p.name, { pipeline: p.name, equal: 0, different: 0, missing: 0, extra: 0, examples: [] as Array<Difference> }]))
    const note = (c: { examples: Array<Difference> }, pipeline: string, d: { key: string; bucket: string; live?: unknown; shadow?: unknown }) => {
      if (c.examples.length >= limit) return
      const monoid = monoids.get(pipeline)!
      c.examples.push({
        key: d.key,
        bucket: d.bucket,
        live: d.live === undefined ? undefined : readable(monoid, d.live),
        shadow: d.shadow === undefined ? undefined : readable(monoid, d.shadow)
      })
    }
    yield* Stream.runForEach(AggregateScan.scan(shadow, monoids, spread), (item) =>
      Effect.sync(() => {
        const c = comparisons.get(item.pipeline)!
        const other = held.get(id(item))
        if (other === undefined) {
          c.extra++
          note(c, item.pipeline, { key: item.key, bucket: item.bucket, shadow: item.value })
          return
        }
        held.delete(id(item))
        if (monoids.get(item.pipeline)!.equals(other.value, item.value)) c.equal++
        else {
          c.different++
          note(c, item.pipeline, { key: item.key, bucket: item.bucket, live: other.value, shadow: item.value })
        }
      }))
    for (const item of held.values()) {
      const c = comparisons.get(item.pipeline)!
      c.missing++
      note(c, item.pipeline, { key: item.key, bucket: item.bucket, live: item.value })
    }
    return Array.from(comparisons.values()) as ReadonlyArray<Comparison>
  })

/** Whether every compared item is equal. */
export const same = (comparisons: ReadonlyArray<Comparison>): boolean => comparisons.every((c) => c.different + c.missing + c.extra === 0)

const show = (json: Json | undefined): string => (json === undefined ? "(none)" : typeof json === "string" ? json : JSON.stringify(json))

/** The comparison as `eddy replay compare` prints it: a row per pipeline, then the examples. */
export const render = (live: string, shadow: string, comparisons: ReadonlyArray<Comparison>): string => {
  const table = Table.render({
    title: `${live} (live) against ${shadow} (shadow)`,
    columns: [{ header: "pipeline" }, { header: "equal", align: "right" }, { header: "different", align: "right" }, { header: "missing", align: "right" }, {
      header: "only in shadow",
      align: "right"
    }],
    rows: comparisons.map((c) => [c.pipeline, String(c.equal), String(c.different), String(c.missing), String(c.extra)])
  })
  const examples = comparisons.flatMap((c) =>
    c.examples.map((d) => `  ${c.pipeline} ${JSON.stringify(d.key)} ${d.bucket}: live ${show(d.live)}, shadow ${show(d.shadow)}`)
  )
  return table + (examples.length > 0 ? `\nexamples:\n${examples.join("\n")}\n` : "")
}
