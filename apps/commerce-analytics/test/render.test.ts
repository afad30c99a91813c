import { describe, expect, it } from "@effect/vitest"
import { money, render } from "../src/render"

describe("money", () => {
  it("writes minor units in the currency's own decimals, exactly", () => {
    expect(money(1999, "EUR")).toBe("EUR 19.99")
    expect(money(5, "EUR")).toBe("EUR 0.05")
    expect(money(123_456_789, "USD")).toBe("USD 1,234,567.89")
    expect(money(1999, "JPY")).toBe("JPY 1,999")
    expect(money(1999, "BHD")).toBe("BHD 1.999")
    expect(money(-250, "EUR")).toBe("EUR -2.50")
    // Past 2^53 / 100 a float division would round; the integer arithmetic does not.
    expect(money(9_007_199_254_740_991, "EUR")).toBe("EUR 90,071,992,547,409.91")
  })

  it("labels minor units when the currency is unknown", () => {
    expect(money(1999, undefined)).toBe("1,999 minor units")
  })
})

describe("render", () => {
  it("aligns columns under their headers, numbers to the right, with a footer and a note", () => {
    const text = render({
      title: "Sales",
      columns: [{ header: "product" }, { header: "units", align: "right" }],
      rows: [["p-1", "12"], ["p-100", "7"]],
      footer: ["all", "19"],
      note: "two products"
    })
    expect(text).toBe(
      [
        "Sales",
        "  product  units",
        "  -------  -----",
        "  p-1         12",
        "  p-100        7",
        "  -------  -----",
        "  all         19",
        "  two products",
        ""
      ].join("\n")
    )
  })

  it("says so when a range holds nothing", () => {
    expect(render({ title: "Empty", columns: [{ header: "day" }], rows: [] })).toContain("(nothing stored for this range)")
  })
})
