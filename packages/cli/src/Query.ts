/**
 * A query's result as the `eddy query` command prints it: one row per bucket
 * holding a value, then the merged total, each value as a person reads it
 * (sketches as their estimate, top-k as its ranking). The reading itself is
 * `@eddy/core/Query`'s.
 */
import type { Json } from "@eddy/core/Json"
import { readable, type Result } from "@eddy/core/Query"
import * as Window from "@eddy/core/Window"
import { Option } from "effect"
import * as Table from "./internal/table"

const cell = (json: Json): string => (typeof json === "number" || typeof json === "string" ? String(json) : JSON.stringify(json))

/** The result as a table: one row per bucket holding a value, then the merged total. */
export const toTable = <A>(result: Result<A>): string => {
  const read = (v: A) => cell(readable(result.pipeline.aggregate, v))
  const title = `${result.pipeline.name} for ${JSON.stringify(result.key)} (${result.pipeline.aggregate.name}, ${Window.describe(result.pipeline.window)})`
  if (result.points.length === 0) return `${title}\n\nno values in the ${result.buckets.length} bucket(s) read\n`
  return Table.render({
    title,
    columns: [{ header: "bucket" }, { header: "value", align: "right" }],
    rows: [...result.points.map((p) => [p.bucket, read(p.value)]), ["total", Option.match(result.total, { onNone: () => "", onSome: read })]]
  })
}
