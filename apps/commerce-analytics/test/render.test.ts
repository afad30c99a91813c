import { describe, expect, it } from "@effect/vitest"
import { bar, money, progressLines, render, revenuePerHourTable } from "../src/render"

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

describe("revenue per hour", () => {
  const report = (hours: ReadonlyArray<readonly [string, number]>) => ({
    hours: hours.map(([hour, eur]) => ({ hour, revenue: new Map([["EUR", eur]]) })),
    total: new Map([["EUR", hours.reduce((a, [, eur]) => a + eur, 0)]])
  })

  it("draws each hour's revenue as a bar, the busiest hour the full width, to eighths of a character", () => {
    const text = render(revenuePerHourTable(report([["2026-11-21T10", 400_00], ["2026-11-21T11", 100_00], ["2026-11-21T12", 0], ["2026-11-21T13", 250_00]])))
    const bars = text.split("\n").filter((l) => /^\s+2026-11-21T/.test(l)).map((l) => l.split(/\s{2,}/).slice(3).join(""))
    expect(bars).toEqual(["█".repeat(24), "█".repeat(6), "", "█".repeat(15)])
    expect(text).toContain("EUR 400.00")
    expect(bar(1, 3, 2)).toBe("▋")
    expect(bar(5, 0)).toBe("")
  })
})

describe("progress lines", () => {
  const phases = (tty: boolean) => {
    let out = ""
    const lines = progressLines((text) => (out += text), tty)
    lines.update("generating: sent 0/100", true)
    lines.update("generating: sent 50/100", false)
    lines.update("generating: sent 100/100", false)
    lines.update("service: 0/4 shards", true)
    lines.update("service: 4/4 shards", false)
    lines.end()
    return out
  }

  it("without a terminal prints each phase's final state once, no intermediate values", () => {
    expect(phases(false)).toBe("generating: sent 100/100\nservice: 4/4 shards\n")
  })

  it("on a terminal redraws the phase's line and leaves it on its final state", () => {
    const out = phases(true)
    // What stays on screen: each line as last drawn before its newline.
    const screen = out.split("\n").map((l) => l.split("\r\x1b[2K").pop()!).filter((l) => l !== "")
    expect(screen).toEqual(["generating: sent 100/100", "service: 4/4 shards"])
    expect(out).toContain("\r\x1b[2Kgenerating: sent 50/100")
    expect(out.endsWith("\n")).toBe(true)
  })
})
