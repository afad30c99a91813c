/**
 * Misra-Gries frequency counters as a mergeable summary (Agarwal et al.,
 * "Mergeable Summaries", PODS 2012). Summaries merge by adding counters and
 * then pruning; any tree of merges keeps, for every item,
 * `0 <= true count - counter <= (N - sum of counters) / (capacity + 1)`
 * where `N` is the total weight added, and that is at most `N / (capacity + 1)`.
 * While no prune has removed anything the counters are exact.
 *
 * These helpers mutate the map they are given; callers own it.
 */

/** Adds `count` to the counter of `item` in `target`. */
export const addOne = (target: Map<string, number>, item: string, count: number): void => {
  target.set(item, (target.get(item) ?? 0) + count)
}

/** Adds every counter of `source` into `target`. */
export const addInto = (target: Map<string, number>, source: ReadonlyMap<string, number>): void => {
  for (const [item, count] of source) addOne(target, item, count)
}

/**
 * The prune step: when more than `capacity` counters remain, subtracts the
 * (capacity + 1)-th largest count `c` from every counter and drops those left
 * at zero or below. It lowers each counter by at most `c` and their sum by at
 * least `(capacity + 1) c`, which is where the error bound comes from.
 */
export const prune = (counters: Map<string, number>, capacity: number): void => {
  if (counters.size <= capacity) return
  const counts = Float64Array.from(counters.values()).sort()
  const cut = counts[counts.length - 1 - capacity]!
  for (const [item, count] of counters) {
    if (count <= cut) counters.delete(item)
    else counters.set(item, count - cut)
  }
}

/** Orders items by count descending, then item ascending (UTF-16 code units). */
export const byCountThenItem = (x: readonly [string, number], y: readonly [string, number]): number =>
  y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)
