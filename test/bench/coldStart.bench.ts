/**
 * The Lambda bundle and its cold start: the size of `dist/lambda.mjs` as
 * deployed (AWS SDK inside) and without the SDK, and, in fresh Node
 * processes, the import plus the first call beside the same for an empty
 * module, interleaved so a busy machine weighs on both. (The file without
 * the SDK is only weighed: it runs only where the runtime provides the SDK.)
 */
import { bundle } from "@eddy/commerce-analytics/bundle"
import { coldStart, importAndFirstCall, type Sample } from "@eddy/commerce-analytics/coldStart"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { table } from "./measure"

const RUNS = 15

export async function run(): Promise<void> {
  const deployed = await coldStart(RUNS)
  const withoutSdk = mkdtempSync(join(tmpdir(), "eddy-bundle-"))
  const lean = await bundle("lambda", { outdir: withoutSdk, external: ["@aws-sdk/*", "@smithy/*"] })
  rmSync(withoutSdk, { recursive: true })
  const row = (label: string, pick: (s: Sample) => number, target: string) => ({
    measure: label,
    "empty module ms": deployed.empty(pick),
    "lambda.mjs ms": deployed.lambda(pick),
    "added ms": deployed.lambda(pick) - deployed.empty(pick),
    "x empty": deployed.lambda(pick) / deployed.empty(pick),
    target
  })
  console.log(`dist/lambda.mjs: ${(deployed.bytes / 1024).toFixed(0)} KiB (target 600 KiB); without the AWS SDK (@aws-sdk/*, @smithy/* external): ${(lean.bytes / 1024).toFixed(0)} KiB`)
  console.log(`medians of ${RUNS} fresh processes each\n`)
  table([
    row("import", (s) => s.importMillis, ""),
    row("first call, empty event (builds the runtime)", (s) => s.firstCallMillis, ""),
    row("import + first call", importAndFirstCall, "120 ms"),
    row("whole process, spawn to exit", (s) => s.processMillis, "")
  ])
}
