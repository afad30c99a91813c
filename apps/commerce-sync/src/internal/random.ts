/** mulberry32: a tiny, fast, seedable PRNG giving numbers in [0, 1); ample for generated traffic. */
export const random = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [min, max]. */
export const between = (next: () => number, min: number, max: number): number => min + Math.floor(next() * (max - min + 1))

/** One of `items`, uniformly. */
export const pick = <A>(next: () => number, items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
