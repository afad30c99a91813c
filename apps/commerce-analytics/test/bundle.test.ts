/**
 * The deployable bundles: each builds, stands alone (imported from a
 * directory with no node_modules), and starts. Speed is measured by
 * `pnpm --filter @eddy/commerce-analytics cold-start`, not asserted here.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bundle } from "../src/bundle"
import { sample } from "../src/coldStart"

describe("bundles", () => {
  const outdir = mkdtempSync(join(tmpdir(), "eddy-bundle-"))
  const node = (file: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [file, ...args], { cwd: outdir, env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8", timeout: 30_000 })

  it("dist/lambda.mjs: one file under 1.5 MiB whose handler answers an empty event", async () => {
    const lambda = await bundle("lambda", { outdir })
    expect(lambda.outfile).toBe(join(outdir, "lambda.mjs"))
    expect(lambda.bytes).toBeLessThan(1.5 * 1024 * 1024)
    expect(sample(lambda.outfile).response).toEqual({ batchItemFailures: [] })
  })

  it("dist/lambda.mjs takes its credentials from the environment only; the service keeps the SDK's whole chain", async () => {
    const [lambda, service] = await Promise.all([bundle("lambda", { outdir }), bundle("service", { outdir })])
    const ssoLink = "defaultProvider::fromSSO"
    expect(readFileSync(lambda.outfile, "utf8")).not.toContain(ssoLink)
    expect(readFileSync(service.outfile, "utf8")).toContain(ssoLink)
  })

  it("dist/service.mjs: starts, and stops at once naming the configuration it lacks", async () => {
    const service = await bundle("service", { outdir })
    const run = node(service.outfile, [], { EDDY_DEAD_LETTER: "stdout" })
    expect(run.status).not.toBe(0)
    expect(run.stdout + run.stderr).toMatch(/EDDY_(STREAM_NAME|AGGREGATE_TABLE|LEASE_TABLE)/)
  })

  it("dist/sync.mjs: starts, and stops at once naming the stream it lacks", async () => {
    const sync = await bundle("sync", { outdir })
    const run = node(sync.outfile, [])
    expect(run.status).not.toBe(0)
    expect(run.stdout + run.stderr).toMatch(/KINESIS_(PRODUCT|ORDERS)_STREAM/)
  })

  it("dist/cli.mjs: runs the query command", async () => {
    const cli = await bundle("cli", { outdir })
    const run = node(cli.outfile, ["pipelines"])
    expect(run.stderr).toBe("")
    expect(run.stdout).toContain("revenue_by_product_hourly")
    expect(node(cli.outfile, ["nonsense"]).status).toBe(2)
    rmSync(outdir, { recursive: true })
  })
})
