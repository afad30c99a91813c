import { describe, expect, it } from "@effect/vitest"
import { comparePosition, type Position } from "../src/SourceRecord"
import { FastCheck as fc } from "effect"
import * as Watermark from "../src/Watermark"

const digits = fc.array(fc.constantFrom(..."0123456789"), { minLength: 0, maxLength: 127 }).chain((rest) =>
  fc.constantFrom(..."123456789").map((head) => head + rest.join(""))
)
const position: fc.Arbitrary<Position> = fc.record({ sequenceNumber: digits, subSequenceNumber: fc.integer({ min: 0, max: 9_999_999_999 }) })
/** Positions close together, so equal sequence numbers and sub-sequence ties are common. */
const near: fc.Arbitrary<Position> = fc.record({ sequenceNumber: fc.constantFrom("9", "10", "99", "100", "49590338271490256608559692538361571095921575989136588898"), subSequenceNumber: fc.integer({ min: 0, max: 12 }) })

describe("watermark encoding", () => {
  it.prop("text order equals comparePosition, and decoding inverts encoding", [fc.oneof(position, near), fc.oneof(position, near)], ([a, b]) => {
    const x = Watermark.encode(a)
    const y = Watermark.encode(b)
    expect(x < y ? -1 : x > y ? 1 : 0).toBe(comparePosition(a, b))
    expect(Watermark.decode(x)).toEqual(a)
    expect(Watermark.invalid(a)).toBeUndefined()
  })

  it("refuses positions it cannot order", () => {
    expect(Watermark.invalid({ sequenceNumber: "12a", subSequenceNumber: 0 })).toMatch(/not a decimal string/)
    expect(Watermark.invalid({ sequenceNumber: "12", subSequenceNumber: -1 })).toMatch(/sub-sequence/)
  })
})
