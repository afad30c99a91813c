/**
 * The layout's rules (.dependency-cruiser.cjs) hold for the workspace, and each
 * rule is shown to catch what it forbids on a small tree that breaks it.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const config = join(root, ".dependency-cruiser.cjs")
const depcruise = join(root, "node_modules", ".bin", "depcruise")

interface Violation {
  readonly from: string
  readonly to: string
  readonly rule: { readonly name: string }
}

/** Runs dependency-cruiser on `paths` under `cwd` and returns what it reports as broken. */
const violations = (cwd: string, paths: ReadonlyArray<string>): ReadonlyArray<Violation> => {
  let out: string
  try {
    out = execFileSync(depcruise, [...paths, "--config", config, "--output-type", "json"], { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    // depcruise exits non-zero when it finds violations; its report is still on stdout.
    out = (error as { stdout?: string }).stdout ?? ""
    if (out === "") throw error
  }
  return JSON.parse(out).summary.violations
}

const describeViolation = (v: Violation) => `${v.rule.name}: ${v.from} -> ${v.to}`

describe("architecture", () => {
  it("the workspace keeps every layout rule", () => {
    expect(violations(root, ["packages", "apps", "examples"]).map(describeViolation)).toEqual([])
  })

  it("each rule reports the import that breaks it", () => {
    const dir = mkdtempSync(join(tmpdir(), "eddy-layout-"))
    try {
      const files: Record<string, string> = {
        "tsconfig.json": JSON.stringify({ compilerOptions: { module: "ESNext", moduleResolution: "Bundler" } }),
        "packages/core/src/Processor.ts": [
          `import { KinesisClient } from "@aws-sdk/client-kinesis"`,
          `import { readFileSync } from "node:fs"`,
          `import { CommerceEvents } from "../../commerce/src/CommerceEvent"`,
          `import { Faults } from "../../testing/src/Faults"`,
          `import { a } from "./A"`,
          `export const p = [KinesisClient, readFileSync, CommerceEvents, Faults, a]`
        ].join("\n"),
        "packages/core/src/A.ts": `import { b } from "./B"\nexport const a = b`,
        "packages/core/src/B.ts": `import { a } from "./A"\nexport const b = () => a`,
        "packages/commerce/src/CommerceEvent.ts": `export const CommerceEvents = 1`,
        "packages/testing/src/Faults.ts": `export const Faults = 1`,
        "packages/kinesis/src/internal/batcher.ts": `export const batcher = 1`,
        "packages/runtime/src/Service.ts": [
          `import { batcher } from "../../kinesis/src/internal/batcher"`,
          `import { DynamoLeases } from "../../dynamodb/src/DynamoLeases"`,
          `export const s = [batcher, DynamoLeases]`
        ].join("\n"),
        "packages/dynamodb/src/DynamoLeases.ts": `export const DynamoLeases = 1`
      }
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true })
        writeFileSync(join(dir, path), text)
      }
      const broken = new Set(violations(dir, ["packages"]).map((v) => v.rule.name))
      expect([...broken].sort()).toEqual([
        "core-no-aws",
        "core-no-commerce",
        "core-no-node-io",
        "no-circular",
        "no-foreign-internal",
        "no-test-helpers-in-production",
        "runtime-no-dynamodb"
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
