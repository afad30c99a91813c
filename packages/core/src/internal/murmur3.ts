/**
 * MurmurHash3, x86 32-bit variant (Austin Appleby, public domain), over the
 * first `length` bytes of `data`. Returns an unsigned 32-bit integer.
 */
export const murmur3x86_32 = (data: Uint8Array, length: number, seed: number): number => {
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  let h = seed >>> 0
  const blocks = length & ~3
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  const tail = length & 3
  if (tail > 0) {
    let k = data[blocks]!
    if (tail > 1) k ^= data[blocks + 1]! << 8
    if (tail > 2) k ^= data[blocks + 2]! << 16
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
  }
  h ^= length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const encoder = new TextEncoder()
let scratch = new Uint8Array(256)

/** Seeds of the two halves of `hash64`. Stored sketches depend on them: never change them. */
const SEED_HIGH = 0x5eed0001
const SEED_LOW = 0x5eed0002

/**
 * 64 bits of hash of the UTF-8 bytes of `text`: two MurmurHash3 x86_32 runs
 * with different seeds, high half into `out[0]`, low half into `out[1]`
 * (an out-parameter so hot loops allocate nothing). Lone surrogates encode as
 * U+FFFD, as `TextEncoder` does. Not for adversarial input: MurmurHash3 has
 * seed-independent collisions that can be constructed on purpose.
 */
export const hash64 = (text: string, out: Uint32Array): void => {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(text.length * 3)
  const length = encoder.encodeInto(text, scratch).written
  out[0] = murmur3x86_32(scratch, length, SEED_HIGH)
  out[1] = murmur3x86_32(scratch, length, SEED_LOW)
}
