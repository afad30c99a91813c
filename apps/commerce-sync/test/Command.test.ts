/**
 * The `eddy-commerce` command line: argument parsing (help, defaults, clear
 * errors for bad numbers), the progress display, and the command itself run
 * as a process against a local Kinesis.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { layer as kinesisLayer } from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import { Duration, Effect, Either, Layer } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Command from "../src/Command"
import * as Generate from "../src/Generate"
import * as Progress from "../src/Progress"
import { createStream, readAll, uniqueName } from "./support/kinesis"

const usageError = (argv: ReadonlyArray<string>): string => {
  const parsed = Command.parse(argv)
  if (Either.isRight(parsed)) throw new Error(`expected a usage error for ${argv.join(" ")}`)
  return parsed.left.message
}

describe("parse", () => {
  it("asks for help with --help or -h, anywhere", () => {
    for (const argv of [["--help"], ["-h"], ["generate", "--help"], ["generate", "--orders", "5", "-h"]]) {
      expect(Command.parse(argv)).toEqual(Either.right({ _tag: "Help" }))
    }
    expect(Command.help).toContain("--orders N")
    expect(Command.help).toContain("KINESIS_INSERT_RATE_LIMIT")
  })

  it("reads every option, in both --name value and --name=value forms, with defaults for the rest", () => {
    expect(Command.parse(["generate"])).toEqual(
      Either.right({ _tag: "Generate", args: { orders: 1_000, products: 100, invalid: 0, span: Duration.days(2) } })
    )
    expect(
      Command.parse(["generate", "--orders", "5", "--products=2", "--rate", "12.5", "--invalid", "3", "--span", "12h", "--seed=9"])
    ).toEqual(
      Either.right({ _tag: "Generate", args: { orders: 5, products: 2, rate: 12.5, invalid: 3, span: Duration.hours(12), seed: 9 } })
    )
  })

  it("says which argument is wrong and what it got", () => {
    expect(usageError(["generate", "--orders", "abc"])).toBe(`--orders must be a whole number >= 0, got "abc"`)
    expect(usageError(["generate", "--orders=-1"])).toBe(`--orders must be a whole number >= 0, got "-1"`)
    expect(usageError(["generate", "--products", "2.5"])).toBe(`--products must be a whole number >= 0, got "2.5"`)
    expect(usageError(["generate", "--invalid", "1e3"])).toBe(`--invalid must be a whole number >= 0, got "1e3"`)
    expect(usageError(["generate", "--rate", "0"])).toBe(`--rate must be a number of records per second > 0, got "0"`)
    expect(usageError(["generate", "--rate", "fast"])).toBe(`--rate must be a number of records per second > 0, got "fast"`)
    expect(usageError(["generate", "--span", "2w"])).toContain(`--span must be a positive whole number with s, m, h or d`)
    expect(usageError(["generate", "--orders", "3", "--products", "0"])).toBe("--products must be at least 1 when there are orders")
    expect(usageError(["generate", "--orders"])).toContain("--orders")
    expect(usageError(["generate", "--bogus"])).toContain("--bogus")
    expect(usageError([])).toContain("no command")
    expect(usageError(["frobnicate"])).toContain(`unknown command "frobnicate"`)
    expect(usageError(["generate", "extra"])).toContain(`unexpected argument "extra"`)
  })
})

describe("progress", () => {
  const at = (sent: number, elapsedMillis: number): Generate.Progress => ({ total: 100, sent, failed: 0, retried: 1, elapsedMillis })
  const capture = (isTTY: boolean) => {
    const written: Array<string> = []
    return { written, reporter: Progress.make({ isTTY, write: (text) => written.push(text) }) }
  }

  it("draws a bar with counts and rate", () => {
    expect(Progress.line(at(50, 2_000), 10)).toBe("[█████░░░░░] 50% 50/100 · 0 failed · 1 retried · 25 rec/s")
  })

  it.effect("on a TTY redraws one line in place, at most every 100 ms, then ends it", () =>
    Effect.gen(function*() {
      const { reporter, written } = capture(true)
      yield* reporter.update(at(10, 0))
      yield* reporter.update(at(20, 50))
      yield* reporter.update(at(30, 150))
      yield* reporter.update(at(100, 160))
      yield* reporter.finish
      expect(written.length).toBe(4)
      expect(written.slice(0, 3).every((w) => w.startsWith("\r\x1b[2K") && !w.includes("\n"))).toBe(true)
      expect(written[2]).toContain("100/100")
      expect(written[3]).toBe("\n")
    }))

  it.effect("elsewhere writes a line every 5 s and always the last", () =>
    Effect.gen(function*() {
      const { reporter, written } = capture(false)
      for (let i = 0; i <= 10; i++) yield* reporter.update(at(i * 10, i * 1_000))
      yield* reporter.finish
      expect(written.map((w) => w.slice(w.indexOf("]") + 2, w.indexOf("%")))).toEqual(["0", "50", "100"])
      expect(written.every((w) => w.endsWith("\n") && !w.includes("\r"))).toBe(true)
    }))
})

const bin = fileURLToPath(new URL("../bin/eddy-commerce.mjs", import.meta.url))

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...env } }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })))
  })

describe("the eddy-commerce process", () => {
  it.live("prints help and exits 0; exits 2 with the reason on a bad number", () =>
    Effect.gen(function*() {
      const help = yield* run(["--help"])
      expect(help).toMatchObject({ code: 0 })
      expect(help.stdout).toContain("generate [--orders N] [--products N] [--rate R]")
      const bad = yield* run(["generate", "--orders", "lots"])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain(`--orders must be a whole number >= 0, got "lots"`)
    }))
})

class Endpoint extends Effect.Tag("test/Endpoint")<Endpoint, string>() {}
/** A local Kinesis for the test's client, and its endpoint for the process. */
const Local = Layer.unwrapScoped(
  Effect.map(Kinesalite.start(), ({ endpoint }) => Layer.merge(kinesisLayer({ endpoint }), Layer.succeed(Endpoint, endpoint)))
)

layer(Local, { excludeTestServices: true })("the eddy-commerce process against a local Kinesis", (it) => {
  it.scoped("generate sends the traffic to the streams from the environment and prints a summary", () =>
    Effect.gen(function*() {
      const endpoint = yield* Endpoint
      const streams = { product: uniqueName("products"), orders: uniqueName("orders") }
      for (const name of Object.values(streams)) yield* createStream(name, 1)
      const result = yield* run(["generate", "--orders", "30", "--products", "8", "--invalid", "3", "--seed", "5", "--span", "6h"], {
        KINESIS_PRODUCT_STREAM: streams.product,
        KINESIS_ORDERS_STREAM: streams.orders,
        AWS_ENDPOINT_URL_KINESIS: endpoint,
        AWS_REGION: "us-east-1"
      })
      expect(result.code, result.stderr).toBe(0)
      // Not a TTY: progress as whole lines, ending at 100%.
      expect(result.stderr).toMatch(/\] 100% \d+\/\d+ · 0 failed/)
      expect(result.stdout).toContain("and 3 invalid records")
      expect(result.stdout).toContain("failed 0")

      // The same seed plans the same traffic; the event times differ (they end now), the counts do not.
      const { events } = Generate.plan({ seed: 5, orders: 30, products: 8, start: 0, spanMillis: 6 * 3_600_000 })
      const orders = events.filter((e) => e.type.startsWith("order.")).length
      expect((yield* readAll(streams.orders)).length).toBe(orders + 3)
      expect((yield* readAll(streams.product)).length).toBe(events.length - orders)
    }))
})
