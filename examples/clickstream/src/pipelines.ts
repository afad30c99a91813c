import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Window from "@eddy/core/Window"
import { PageViews } from "./events"

const hourly = Window.hour({ retention: "30 days" })

/** Views of each page, per hour. */
export const viewsPerPage = Pipeline.make({
  name: "views_per_page",
  source: PageViews,
  events: ["page_view"],
  key: (view) => view.page,
  value: () => 1,
  aggregate: Monoid.count,
  window: hourly
})

export const users = Monoid.hll()

/** Distinct users per hour, one HyperLogLog sketch under the key `all`. */
export const uniqueUsers = Pipeline.make({
  name: "unique_users",
  source: PageViews,
  events: ["page_view"],
  key: () => "all",
  value: (view) => users.of(view.userId),
  aggregate: users,
  window: hourly
})

export const pages = Monoid.topK(10)

/** The ten most viewed pages per hour. */
export const topPages = Pipeline.make({
  name: "top_pages",
  source: PageViews,
  events: ["page_view"],
  key: () => "all",
  value: (view) => pages.of(view.page),
  aggregate: pages,
  window: hourly
})

/** What both entries run: `lambda.ts` and `service.ts`. */
export const pipelines = [viewsPerPage, uniqueUsers, topPages]
