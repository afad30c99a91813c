import { describe, expect, it } from "@effect/vitest"
import { murmur3x86_32 } from "../src/internal/murmur3"
import * as Monoid from "../src/Monoid"

const users = (from: number, n: number) => Array.from({ length: n }, (_, i) => `user-${from + i}`)

describe("hll", () => {
  it("hashes with MurmurHash3 x86_32 as the reference implementation does", () => {
    const hash = (text: string, seed: number) => {
      const bytes = new TextEncoder().encode(text)
      return murmur3x86_32(bytes, bytes.length, seed)
    }
    // Published test vectors of MurmurHash3_x86_32 (all tail lengths).
    expect(hash("", 0)).toBe(0)
    expect(hash("", 1)).toBe(0x514e28b7)
    expect(hash("", 0xffffffff)).toBe(0x81f16f39)
    expect(hash("\0\0\0\0", 0)).toBe(0x2362f9de)
    expect(hash("a", 0x9747b28c)).toBe(0x7fa09ea6)
    expect(hash("abc", 0x9747b28c)).toBe(0xc84a62dd)
    expect(hash("aaaa", 0x9747b28c)).toBe(0x5a97808a)
    expect(hash("Hello, world!", 0x9747b28c)).toBe(0x24884cba)
    expect(hash("The quick brown fox jumps over the lazy dog", 0x9747b28c)).toBe(0x2fa826cd)
    expect(hash("test", 0)).toBe(0xba6bd213)
    expect(hash("foo", 42) | 0).toBe(-1322301282)
  })

  it("keeps the stored form of a string's sketch stable", () => {
    // Stored sketches depend on the hash and its seeds: if this changes, old
    // sketches no longer merge correctly with new ones.
    const hll = Monoid.hll(14)
    expect(hll.encode(hll.of("user-1"))).toEqual({ p: 14, sparse: "BDxB" })
    expect(hll.encode(hll.of("été 🌞"))).toEqual({ p: 14, sparse: "AcBD" })
  })

  describe("estimates within 3 standard errors (1.04 / sqrt(m))", () => {
    const cases: ReadonlyArray<readonly [precision: number, n: number]> = [
      [14, 100],
      [14, 1_000],
      [14, 10_000],
      // 2.5 m, where the original estimator switches from linear counting and is most biased.
      [14, 40_960],
      [14, 100_000],
      [10, 1_000],
      [10, 100_000],
      [18, 100_000]
    ]
    for (const [precision, n] of cases) {
      it(`${n} distinct strings at precision ${precision}`, () => {
        const hll = Monoid.hll(precision)
        const estimate = Monoid.estimate(hll.combineAll(users(0, n).map(hll.of)))
        const standardError = 1.04 / Math.sqrt(2 ** precision)
        expect(Math.abs(estimate - n)).toBeLessThanOrEqual(3 * standardError * n)
      })
    }

    it("0 for the empty sketch, about 1 for one string", () => {
      const hll = Monoid.hll()
      expect(Monoid.estimate(hll.empty)).toBe(0)
      expect(Monoid.estimate(hll.of("x"))).toBeCloseTo(1, 3)
    })
  })

  it("counts repeats once and gives the same sketch whatever the chunking", () => {
    const hll = Monoid.hll(12)
    const once = hll.combineAll(users(0, 5_000).map(hll.of))
    const chunks = [users(0, 3_000), users(2_000, 3_000), users(4_000, 1_000)].map((c) => hll.combineAll(c.map(hll.of)))
    expect(hll.equals(chunks.reduce((a, b) => hll.combine(b, a)), once)).toBe(true)
    expect(hll.equals(hll.combineAll([...chunks, ...chunks]), once)).toBe(true)
  })

  describe("JSON form", () => {
    const hll4 = Monoid.hll(4)

    it("is sparse while at most a quarter of the registers are set, four digits each", () => {
      const one = hll4.encode(hll4.of("x")) as { p: number; sparse: string }
      expect(one.p).toBe(4)
      expect(one.sparse).toMatch(/^[A-Za-z0-9+/]{4}$/)
      // Register 0 at rank 1, given densely, is stored sparsely: index "AAA", rank "B".
      expect(hll4.encode(hll4.decode({ p: 4, dense: "B" + "A".repeat(15) }))).toEqual({ p: 4, sparse: "AAAB" })
    })

    it("is dense, one base64 digit per register, beyond a quarter", () => {
      const state = hll4.combineAll(users(0, 100).map(hll4.of))
      const json = hll4.encode(state) as { p: number; dense: string }
      expect(json.dense).toHaveLength(16)
      expect(hll4.encode(hll4.decode({ p: 4, sparse: "AAABAABBAACBAADBAAEB" }))).toEqual({ p: 4, dense: "BBBBB" + "A".repeat(11) })
      const hll14 = Monoid.hll(14)
      expect((hll14.encode(hll14.combineAll(users(0, 20_000).map(hll14.of))) as { dense: string }).dense).toHaveLength(16_384)
    })

    it("refuses what is not a sketch of this precision, saying why", () => {
      const refuse = (json: Parameters<typeof hll4.decode>[0], reason: RegExp) => {
        expect(() => hll4.decode(json)).toThrow(Monoid.MonoidDecodeError)
        expect(() => hll4.decode(json)).toThrow(reason)
      }
      refuse({ p: 14, sparse: "" }, /precision 14.*hll\(14\)/)
      refuse({ p: 4 }, /expected/)
      refuse({ p: 4, sparse: "AAA" }, /multiple of 4/)
      refuse({ p: 4, sparse: "AA*B" }, /invalid base64/)
      refuse({ p: 4, sparse: "AABBAAAB" }, /ascending/)
      refuse({ p: 4, sparse: "AAQB" }, /index 16 out of range/)
      refuse({ p: 4, sparse: "AAAA" }, /rank 0/)
      refuse({ p: 4, dense: "+" + "A".repeat(15) }, /rank 62/)
      refuse({ p: 4, dense: "AAAA" }, /16 base64 digits/)
    })
  })

  it("checks its precision", () => {
    expect(Monoid.hll().name).toBe("hll(14)")
    expect(Monoid.hll(4).precision).toBe(4)
    for (const bad of [3, 19, 14.5]) expect(() => Monoid.hll(bad)).toThrow(RangeError)
  })
})
