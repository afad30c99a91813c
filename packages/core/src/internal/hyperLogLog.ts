import { hash64 } from "./murmur3"

/**
 * HyperLogLog registers (Flajolet et al., 2007) over 64-bit hashes.
 *
 * With precision `p` there are `m = 2^p` registers; a hash's top `p` bits pick
 * the register and the rank (1 + leading zeros) of the remaining `64 - p` bits
 * is kept if larger. Ranks are at most `65 - p <= 61`, so six bits hold one.
 *
 * Representation is canonical, a function of the register values only: sparse
 * (non-zero registers packed as `index << 6 | rank`, ascending) while at most
 * `m / 4` registers are set, dense (one byte per register) beyond. So equal
 * sketches have equal representations, and a sparse sketch is never larger
 * than the dense one, in memory or in JSON.
 *
 * States are immutable: nothing here writes into an array it was given, and
 * callers must treat the typed arrays as read-only too.
 */
export type HllState = Sparse | Dense

export interface Sparse {
  readonly precision: number
  readonly sparse: Uint32Array
}

export interface Dense {
  readonly precision: number
  readonly dense: Uint8Array
}

export const MIN_PRECISION = 4
export const MAX_PRECISION = 18

const sparseLimit = (precision: number): number => (1 << precision) >>> 2
const maxRank = (precision: number): number => 65 - precision

const hash = new Uint32Array(2)

/** The packed `index << 6 | rank` entry of one string. */
const entryOf = (precision: number, item: string): number => {
  hash64(item, hash)
  const high = hash[0]!
  const low = hash[1]!
  const index = high >>> (32 - precision)
  // The 32 - precision bits of `high` after the index, then the 32 bits of `low`.
  const rest = (high << precision) >>> 0
  const rank = rest !== 0
    ? Math.clz32(rest) + 1
    : low !== 0
    ? 32 - precision + Math.clz32(low) + 1
    : maxRank(precision)
  return (index << 6) | rank
}

export const empty = (precision: number): HllState => ({ precision, sparse: new Uint32Array(0) })

/**
 * One string's sketch, as a pipeline emits one per event: its entry array is
 * built only when read, since `mergeAll` takes the entry directly.
 */
class Singleton implements Sparse {
  #sparse: Uint32Array | undefined
  constructor(readonly precision: number, readonly entry: number) {}
  get sparse(): Uint32Array {
    return this.#sparse ??= Uint32Array.of(this.entry)
  }
}

export const singleton = (precision: number, item: string): HllState => new Singleton(precision, entryOf(precision, item))

const applyEntry = (registers: Uint8Array, entry: number): void => {
  const index = entry >>> 6
  const rank = entry & 63
  if (rank > registers[index]!) registers[index] = rank
}

const applyEntries = (registers: Uint8Array, entries: Uint32Array): void => {
  for (let i = 0; i < entries.length; i++) applyEntry(registers, entries[i]!)
}

const applyRegisters = (registers: Uint8Array, other: Uint8Array): void => {
  for (let i = 0; i < registers.length; i++) if (other[i]! > registers[i]!) registers[i] = other[i]!
}

/** Takes ownership of `registers` and returns the canonical state holding them. */
const fromRegisters = (precision: number, registers: Uint8Array): HllState => {
  let set = 0
  for (let i = 0; i < registers.length; i++) if (registers[i] !== 0) set++
  if (set > sparseLimit(precision)) return { precision, dense: registers }
  const sparse = new Uint32Array(set)
  for (let i = 0, j = 0; i < registers.length; i++) if (registers[i] !== 0) sparse[j++] = (i << 6) | registers[i]!
  return { precision, sparse }
}

/** Merges sorted entry lists keeping the larger rank per index. */
const mergeSparse = (x: Uint32Array, y: Uint32Array): Uint32Array => {
  const out = new Uint32Array(x.length + y.length)
  let i = 0
  let j = 0
  let n = 0
  while (i < x.length && j < y.length) {
    const a = x[i]!
    const b = y[j]!
    const ia = a >>> 6
    const ib = b >>> 6
    if (ia < ib) (out[n++] = a), i++
    else if (ib < ia) (out[n++] = b), j++
    else (out[n++] = a > b ? a : b), i++, j++
  }
  while (i < x.length) out[n++] = x[i++]!
  while (j < y.length) out[n++] = y[j++]!
  return n === out.length ? out : out.slice(0, n)
}

export const merge = (x: HllState, y: HllState): HllState => {
  const precision = x.precision
  if ("sparse" in x && "sparse" in y) {
    if (x.sparse.length === 0) return y
    if (y.sparse.length === 0) return x
    const sparse = mergeSparse(x.sparse, y.sparse)
    if (sparse.length <= sparseLimit(precision)) return { precision, sparse }
    const registers = new Uint8Array(1 << precision)
    applyEntries(registers, sparse)
    return { precision, dense: registers }
  }
  const [base, other] = "dense" in x ? [x, y] : [y as Dense, x]
  const registers = base.dense.slice()
  if ("dense" in other) applyRegisters(registers, other.dense)
  else applyEntries(registers, other.sparse)
  return { precision, dense: registers }
}

/**
 * Merges many states into one working array of registers (or, while the
 * inputs are few and sparse, one sorted entry list): the fast path for
 * folding thousands of singletons. Equals merging them pairwise.
 */
export const mergeAll = (precision: number, states: ReadonlyArray<HllState>): HllState => {
  let entries = 0
  let dense = false
  for (const s of states) {
    if (s instanceof Singleton) entries++
    else if ("dense" in s) dense = true
    else entries += s.sparse.length
  }
  if (!dense && entries <= sparseLimit(precision)) {
    const all = new Uint32Array(entries)
    let n = 0
    for (const s of states) {
      if (s instanceof Singleton) all[n++] = s.entry
      else if ("sparse" in s) {
        all.set(s.sparse, n)
        n += s.sparse.length
      }
    }
    all.sort()
    // Sorted by index then rank: the last entry of each index has its largest rank.
    let kept = 0
    for (let i = 0; i < all.length; i++) {
      if (i + 1 < all.length && all[i + 1]! >>> 6 === all[i]! >>> 6) continue
      all[kept++] = all[i]!
    }
    return { precision, sparse: kept === all.length ? all : all.slice(0, kept) }
  }
  const registers = new Uint8Array(1 << precision)
  for (const s of states) {
    if (s instanceof Singleton) applyEntry(registers, s.entry)
    else if ("dense" in s) applyRegisters(registers, s.dense)
    else applyEntries(registers, s.sparse)
  }
  return fromRegisters(precision, registers)
}

const arrayEquals = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => {
  if (x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  return true
}

/** Representations are canonical, so equal sketches compare structurally. */
export const equals = (x: HllState, y: HllState): boolean =>
  x.precision === y.precision && (
    "sparse" in x ? "sparse" in y && arrayEquals(x.sparse, y.sparse) : "dense" in y && arrayEquals(x.dense, y.dense)
  )

/** Ertl's sigma: corrects for empty registers (it plays the role of linear counting). */
const sigma = (x: number): number => {
  if (x === 1) return Infinity
  let y = 1
  let z = x
  let previous: number
  do {
    x *= x
    previous = z
    z += x * y
    y += y
  } while (z !== previous)
  return z
}

/** Ertl's tau: corrects for registers at the maximum rank. */
const tau = (x: number): number => {
  if (x === 0 || x === 1) return 0
  let y = 1
  let z = 1 - x
  let previous: number
  do {
    x = Math.sqrt(x)
    previous = z
    y *= 0.5
    z -= (1 - x) * (1 - x) * y
  } while (z !== previous)
  return z / 3
}

/**
 * The cardinality estimate, by Ertl's improved estimator ("New cardinality
 * estimation algorithms for HyperLogLog sketches", 2017; also Redis's). The
 * original estimator with its linear-counting switch at `2.5 m` is biased by
 * up to about 3% (four standard errors at precision 14) between `2.5 m` and
 * `5 m`; this one needs no switch or empirical tables and keeps the relative
 * standard error near `1.04 / sqrt(m)` over the whole range, from exact-ish
 * small counts (where it behaves like linear counting) upward.
 */
export const estimate = (state: HllState): number => {
  const precision = state.precision
  const m = 1 << precision
  const q = 64 - precision
  const histogram = new Float64Array(q + 2)
  if ("sparse" in state) {
    histogram[0] = m - state.sparse.length
    for (let i = 0; i < state.sparse.length; i++) histogram[state.sparse[i]! & 63]!++
  } else {
    for (let i = 0; i < m; i++) histogram[state.dense[i]!]!++
  }
  let z = m * tau(1 - histogram[q + 1]! / m)
  for (let k = q; k >= 1; k--) z = 0.5 * (z + histogram[k]!)
  z += m * sigma(histogram[0]! / m)
  return (m * m) / (2 * Math.LN2 * z)
}

// Text form: one base64 digit (6 bits) per register value, so a dense sketch
// is exactly `m` characters, and a sparse entry is four digits: the index in
// three (18 bits), then the rank.
const DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const DIGIT_CODES = Uint8Array.from(DIGITS, (c) => c.charCodeAt(0))
const DIGIT_VALUES = (() => {
  const values = new Int8Array(128).fill(-1)
  for (let i = 0; i < 64; i++) values[DIGIT_CODES[i]!] = i
  return values
})()
const ascii = new TextDecoder()

const digit = (text: string, i: number): number => {
  const c = text.charCodeAt(i)
  return c < 128 ? DIGIT_VALUES[c]! : -1
}

export const encodeSparse = (entries: Uint32Array): string => {
  const codes = new Uint8Array(entries.length * 4)
  for (let i = 0; i < entries.length; i++) {
    const index = entries[i]! >>> 6
    codes[4 * i] = DIGIT_CODES[(index >>> 12) & 63]!
    codes[4 * i + 1] = DIGIT_CODES[(index >>> 6) & 63]!
    codes[4 * i + 2] = DIGIT_CODES[index & 63]!
    codes[4 * i + 3] = DIGIT_CODES[entries[i]! & 63]!
  }
  return ascii.decode(codes)
}

export const encodeDense = (registers: Uint8Array): string => {
  const codes = new Uint8Array(registers.length)
  for (let i = 0; i < registers.length; i++) codes[i] = DIGIT_CODES[registers[i]!]!
  return ascii.decode(codes)
}

/** Parses the sparse text form; returns the reason when it is not one. */
export const decodeSparse = (precision: number, text: string): HllState | string => {
  if (text.length % 4 !== 0) return "sparse registers must be a multiple of 4 base64 digits"
  const m = 1 << precision
  const entries = new Uint32Array(text.length / 4)
  let previous = -1
  for (let i = 0; i < entries.length; i++) {
    const a = digit(text, 4 * i)
    const b = digit(text, 4 * i + 1)
    const c = digit(text, 4 * i + 2)
    const rank = digit(text, 4 * i + 3)
    if (a < 0 || b < 0 || c < 0 || rank < 0) return `invalid base64 digit in entry ${i}`
    const index = (a << 12) | (b << 6) | c
    if (index >= m) return `register index ${index} out of range for precision ${precision}`
    if (index <= previous) return "sparse register indexes must be strictly ascending"
    if (rank === 0 || rank > maxRank(precision)) return `rank ${rank} out of range for precision ${precision}`
    entries[i] = (index << 6) | rank
    previous = index
  }
  if (entries.length <= sparseLimit(precision)) return { precision, sparse: entries }
  const registers = new Uint8Array(m)
  applyEntries(registers, entries)
  return { precision, dense: registers }
}

/** Parses the dense text form; returns the reason when it is not one. */
export const decodeDense = (precision: number, text: string): HllState | string => {
  const m = 1 << precision
  if (text.length !== m) return `dense registers must be ${m} base64 digits, got ${text.length}`
  const registers = new Uint8Array(m)
  for (let i = 0; i < m; i++) {
    const rank = digit(text, i)
    if (rank < 0) return `invalid base64 digit at register ${i}`
    if (rank > maxRank(precision)) return `rank ${rank} out of range for precision ${precision}`
    registers[i] = rank
  }
  return fromRegisters(precision, registers)
}
