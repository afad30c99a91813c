/**
 * What the clickstream tests share: page views to publish, in-memory state
 * the test can read, and the aggregates folded by hand, independently of the
 * pipelines, the processor and the store.
 */
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Random from "@eddy/core/Random"
import * as Store from "@eddy/core/Store"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Effect, Layer } from "effect"
import { encode, type PageView } from "../src/events"

export const streamName = "clickstream"

const pageNames = Array.from({ length: 30 }, (_, i) => `/page/${i}`)
const firstHour = Date.UTC(2026, 10, 21, 9)

/** `count` views over three hours by 300 users; a few pages get most of the views. */
export const pageViews = (count: number, seed = 42): Array<PageView> => {
  const next = Random.seeded(seed)
  return Array.from({ length: count }, (_, i) => ({
    type: "page_view" as const,
    eventId: `view-${seed}-${i}`,
    timestamp: firstHour + Math.floor(next() * 3 * 3_600_000),
    userId: `user-${Random.between(next, 1, 300)}`,
    page: pageNames[Math.floor(next() ** 2 * pageNames.length)]!
  }))
}

/** Records that are not page views: each must end in the dead-letter sink. */
export const poison: ReadonlyArray<Uint8Array> = [
  new TextEncoder().encode("{ not json"),
  new TextEncoder().encode(JSON.stringify({ type: "page_view", eventId: "no-user", timestamp: firstHour, page: "/" }))
]

/** Publishes `views` (then `retried` of them again, as a producer's retries would) and `poison`. */
export const publish = (views: ReadonlyArray<PageView>, retried: number) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis.Kinesis
    const records = [
      ...views.map((view) => ({ PartitionKey: view.userId, Data: encode(view) })),
      ...views.slice(0, retried).map((view) => ({ PartitionKey: view.userId, Data: encode(view) })),
      ...poison.map((data, i) => ({ PartitionKey: `poison-${i}`, Data: data }))
    ]
    for (let i = 0; i < records.length; i += 500) {
      const out = yield* kinesis.putRecords({ StreamName: streamName, Records: records.slice(i, i + 500) })
      if ((out.FailedRecordCount ?? 0) > 0) return yield* Effect.die(new Error("kinesalite refused records"))
    }
  })

/** The store, deduper and dead-letter sink in memory, built outside the entry so the test can read them. */
export const memoryState = () => {
  const store = Effect.runSync(Store.makeMemory)
  const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
  const layer = Layer.mergeAll(
    Layer.succeed(Store.Store, store),
    Deduper.layerMemory(),
    Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void deadLetters.push(...entries)) })
  )
  return { store, deadLetters, layer }
}

const hourOf = (millis: number) => `${new Date(millis).toISOString().slice(0, 13)}Z`

/** Per hour: views per page and the distinct users, from the views counted once each. */
export const expected = (views: ReadonlyArray<PageView>) => {
  const hours = new Map<string, { readonly views: Map<string, number>; readonly users: Set<string> }>()
  for (const view of views) {
    const hour = hourOf(view.timestamp)
    let h = hours.get(hour)
    if (h === undefined) hours.set(hour, h = { views: new Map(), users: new Set() })
    h.views.set(view.page, (h.views.get(view.page) ?? 0) + 1)
    h.users.add(view.userId)
  }
  return hours
}

/** The `k` most viewed pages of an hour: by views descending, then page. */
export const topOf = (views: ReadonlyMap<string, number>, k: number) =>
  Array.from(views, ([item, count]) => ({ item, count }))
    .sort((a, b) => b.count - a.count || (a.item < b.item ? -1 : a.item > b.item ? 1 : 0))
    .slice(0, k)
