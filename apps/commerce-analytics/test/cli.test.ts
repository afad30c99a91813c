import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { parse, parseTime } from "../src/cli"
import * as Query from "../src/query"

const ok = (argv: string) => Either.getOrThrow(parse(argv.split(" ")))
const usage = (argv: string) => Either.match(parse(argv.split(" ")), { onLeft: (e) => e.message, onRight: (c) => `parsed: ${JSON.stringify(c)}` })

describe("eddy-analytics arguments", () => {
  it("reads a query with a key and a range", () => {
    expect(ok("query revenue_by_product_hourly p-1 --last 48")).toEqual({
      _tag: "Query",
      pipeline: "revenue_by_product_hourly",
      key: "p-1",
      range: Query.last(48)
    })
    expect(ok("query revenue_by_product_hourly p-1 --from 2026-11-20 --to 2026-11-21 --currency EUR")).toEqual({
      _tag: "Query",
      pipeline: "revenue_by_product_hourly",
      key: "p-1",
      range: Query.between(Date.UTC(2026, 10, 20), Date.UTC(2026, 10, 22) - 1),
      currency: "EUR"
    })
    expect(ok("top-products --limit 3")).toEqual({ _tag: "TopProducts", range: undefined, limit: 3 })
    expect(ok("updates p-1 p-2")).toEqual({ _tag: "Updates", products: ["p-1", "p-2"] })
    expect(ok("statuses --from 2026-11-21T10:00Z --to 2026-11-21T12:30:00.5Z")).toEqual({
      _tag: "Statuses",
      range: Query.between(Date.UTC(2026, 10, 21, 10), Date.UTC(2026, 10, 21, 12, 30, 0, 500))
    })
  })

  it("says what is wrong with bad arguments", () => {
    expect(usage("query revenue_by_product_hourly")).toContain("takes a pipeline and a key")
    expect(usage("revenue --last 0")).toContain("--last takes a whole number >= 1")
    expect(usage("revenue --last 3 --from 2026-11-21 --to 2026-11-22")).toContain("not both")
    expect(usage("revenue --from 2026-11-21")).toContain("--from and --to go together")
    expect(usage("revenue --from yesterday --to 2026-11-22")).toContain("not a UTC date or time")
    expect(usage("query top_products_daily all --currency eur")).toContain("ISO-4217")
    expect(usage("forecast")).toContain("unknown command")
    expect(usage("revenue --colour")).toContain("--colour")
  })

  it("takes a date without a time as the day's start, or its end for --to", () => {
    expect(parseTime("2026-11-21", false)).toEqual(Either.right(Date.UTC(2026, 10, 21)))
    expect(parseTime("2026-11-21", true)).toEqual(Either.right(Date.UTC(2026, 10, 22) - 1))
    expect(Either.isLeft(parseTime("2026-11-21T10:00", false))).toBe(true)
  })
})

describe("eddy-analytics configuration", () => {
  const cli = (args: ReadonlyArray<string>, env: Record<string, string | undefined>) =>
    spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../src/cli.ts", import.meta.url)), ...args], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, EDDY_AGGREGATE_TABLE: undefined, ...env }
    })

  it("lists every missing or invalid variable at once, in plain words, before reading anything", () => {
    // The endpoint points nowhere reachable: the command must stop before any request.
    const bad = cli(["revenue"], { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "perhaps", AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:9", AWS_REGION: "eu-west-1" })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain("the configuration is invalid (2 problems)")
    expect(bad.stderr).toContain("EDDY_AGGREGATE_TABLE is not set: the DynamoDB table of the aggregates")
    expect(bad.stderr).toMatch(/AWS_IGNORE_CONFIGURED_ENDPOINT_URLS must be .*perhaps.*: true to ignore/)
    expect(bad.stderr).not.toContain("Missing data at")
    expect(bad.stdout).toBe("")
  })

  it("needs no configuration for what reads nothing", () => {
    const listed = cli(["pipelines"], {})
    expect(listed.status).toBe(0)
    expect(listed.stdout).toContain("Pipelines")
  })
})
