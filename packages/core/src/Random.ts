/**
 * Seeded pseudo-random numbers for generated data (samples, load, fault
 * plans): the same seed gives the same sequence on every run and machine.
 * Not for anything secret.
 */

/** Draws the next number in [0, 1). */
export type Next = () => number

/** mulberry32: a tiny, fast, seedable generator; its quality is ample for test data and traffic. */
export const seeded = (seed: number): Next => {
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
export const between = (next: Next, min: number, max: number): number => min + Math.floor(next() * (max - min + 1))

/** One of `items`, uniformly. */
export const pick = <A>(next: Next, items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
