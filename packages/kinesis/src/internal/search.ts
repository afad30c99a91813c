/**
 * The index of the last of `sorted` (ascending by `key`) whose key is at or
 * below `x`; 0 when none is. `sorted` must not be empty.
 */
export const lastAtOrBelow = <T, K extends number | bigint>(sorted: ReadonlyArray<T>, key: (item: T) => K, x: K): number => {
  let lo = 0
  let hi = sorted.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (key(sorted[mid]!) <= x) lo = mid
    else hi = mid - 1
  }
  return lo
}
