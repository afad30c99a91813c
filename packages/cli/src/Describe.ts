/** What a set of pipelines does: their events, windows, monoids, and where they are stored. */
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Window from "@eddy/core/Window"
import * as Table from "./internal/table"

/** The tables the pipelines are stored in, as far as the command was told. */
export interface Stores {
  /** The aggregate table, when configured. */
  readonly aggregate?: string | undefined
  /** The dedup table, when configured. */
  readonly dedup?: string | undefined
}

/** `eddy describe --json`: the event source, each pipeline and the stores. */
export interface Description {
  readonly source: string
  readonly pipelines: ReadonlyArray<{
    readonly name: string
    readonly events: ReadonlyArray<string>
    readonly monoid: string
    readonly window: string
    /** The sub-items each key's item is spread over (`Pipeline.make`'s `subItemsPerKey`); 1 when not spread. */
    readonly subItemsPerKey: number
  }>
  readonly stores: Stores
}

/** The description of `pipelines`, which share one event source. */
export const describe = (pipelines: ReadonlyArray<Pipeline.Pipeline>, stores: Stores): Description => ({
  source: pipelines[0]?.source.name ?? "",
  pipelines: pipelines.map((p) => ({
    name: p.name,
    events: [...p.events].map(String),
    monoid: p.aggregate.name,
    window: Window.describe(p.window),
    subItemsPerKey: p.subItemsPerKey ?? 1
  })),
  stores
})

/** The description as `eddy describe` prints it: a table of the pipelines, then the stores. */
export const render = (d: Description): string =>
  Table.render({
    title: `Pipelines of event source ${d.source}`,
    columns: [{ header: "pipeline" }, { header: "events" }, { header: "monoid" }, { header: "window" }, { header: "items per key", align: "right" }],
    rows: d.pipelines.map((p) => [p.name, p.events.join(", "), p.monoid, p.window, String(p.subItemsPerKey)])
  }) +
  `\nstores: aggregates in ${d.stores.aggregate !== undefined ? `DynamoDB table ${d.stores.aggregate}` : "(no aggregate table configured)"}` +
  `, event ids in ${d.stores.dedup !== undefined ? `DynamoDB table ${d.stores.dedup}` : "(no dedup table configured)"}\n`
