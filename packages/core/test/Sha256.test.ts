import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { createHash } from "node:crypto"
import { sha256Hex } from "../src/internal/sha256"

const reference = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

describe("sha256Hex", () => {
  it("matches the FIPS 180-4 examples", () => {
    expect(sha256Hex(new Uint8Array())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    expect(sha256Hex(new TextEncoder().encode("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    expect(sha256Hex(new TextEncoder().encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    )
  })

  it("matches Node's digest at every length around the block boundaries", () => {
    for (let n = 0; n <= 260; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff)
      expect(sha256Hex(bytes)).toBe(reference(bytes))
    }
  })

  it("matches Node's digest on any bytes, including subarrays of larger buffers", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), fc.nat({ max: 16 }), (bytes, skip) => {
      const view = bytes.subarray(Math.min(skip, bytes.length))
      expect(sha256Hex(view)).toBe(reference(view))
    }), { numRuns: 300 })
  })
})
