/**
 * The clickstream's one event: a page view, as the web tier publishes it,
 * one UTF-8 JSON object per Kinesis record:
 *
 * ```json
 * { "type": "page_view", "eventId": "8f0c…", "timestamp": 1795694130123, "userId": "u-17", "page": "/pricing" }
 * ```
 */
import * as Decoder from "@eddy/core/Decoder"
import type * as Pipeline from "@eddy/core/Pipeline"
import { Schema } from "effect"

export const PageView = Schema.Struct({
  type: Schema.Literal("page_view"),
  /** Unique per view: a producer's retry carries the same id and is counted once. */
  eventId: Schema.NonEmptyString,
  /** When the page was viewed, epoch milliseconds: windows follow this, not the arrival time. */
  timestamp: Schema.Number,
  userId: Schema.NonEmptyString,
  page: Schema.String
})
export type PageView = typeof PageView.Type

/** Where the pipelines read page views from: how to decode a record, and each view's id and time. */
export const PageViews: Pipeline.EventSource<PageView> = {
  name: "clickstream",
  decoder: Decoder.json(PageView),
  eventId: (view) => view.eventId,
  eventTime: (view) => view.timestamp
}

/** The bytes of one page view on the stream. */
export const encode = (view: PageView): Uint8Array => new TextEncoder().encode(JSON.stringify(view))
