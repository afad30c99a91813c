/**
 * What the clickstream tests share: page views to publish, and the
 * aggregates folded by hand, independently of the pipelines, the processor
 * and the store.
 */
import * as Random from "@eddy/core/Random"
import * as Harness from "@eddy/testing/Harness"
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
  Harness.putAll(streamName, [
    ...[...views, ...views.slice(0, retried)].map((view) => ({ PartitionKey: view.userId, Data: encode(view) })),
    ...poison.map((data, i) => ({ PartitionKey: `poison-${i}`, Data: data }))
  ])

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
