import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { print, run } from "../src/demo"

describe("the demo", () => {
  it.live("runs the service and the Lambda over generated traffic in local Kinesis and DynamoDB, and finds them equal to the generator's totals", () =>
    Effect.gen(function*() {
      const phases: Array<string> = []
      const report = yield* run({ orders: 150, products: 30, invalid: 6, seed: 7, progress: (line, changed) => changed && phases.push(line.split(":")[0]!) }).pipe(
        Logger.withMinimumLogLevel(LogLevel.Warning)
      )
      expect(report.differences).toEqual([])
      expect(phases).toEqual(["starting", "generating", "service", "lambda", "comparing", "done"])
      expect(report.generated.failed).toBe(0)
      expect(report.generated.invalid).toBe(6)
      expect(report.deadLetters).toHaveLength(6)
      for (const [pipeline, items] of report.items) expect(items, pipeline).toBeGreaterThan(0)
      const text = print(report)
      expect(text).toContain("Top products by units sold")
      expect(text).toContain("Dead-lettered records (6)")
      expect(text).toMatch(/\nMATCH: the service and the Lambda computed identical aggregates/)
    }))
})

describe("the demo's command line", () => {
  const demo = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../src/demo.ts", import.meta.url)), ...args], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, ...env }
    })

  it("prints help for --help, without a stack trace", () => {
    const help = demo(["--help"])
    expect(help.status).toBe(0)
    expect(help.stdout).toContain("--orders")
    expect(help.stdout).toContain("--products")
    expect(help.stderr).not.toContain("    at ")
  })

  it("refuses a negative count with exit code 2 and says why", () => {
    const bad = demo(["--orders", "-3"])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain("--orders takes a whole number >= 0, got -3")
  })

  it("lists every invalid variable at once, in plain words, before starting anything", () => {
    const bad = demo([], { LOG_LEVEL: "LOUD", AWS_LAMBDA_LOG_LEVEL: "CHATTY" })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain("the configuration is invalid (2 problems)")
    expect(bad.stderr).toMatch(/LOG_LEVEL .*LOUD.*: the least level logged/)
    expect(bad.stderr).toMatch(/AWS_LAMBDA_LOG_LEVEL .*CHATTY.*: Lambda's log level setting/)
    expect(bad.stderr).not.toContain("starting:")
    expect(bad.stderr).not.toContain("Missing data at")
  })
})
