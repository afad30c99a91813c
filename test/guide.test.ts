/**
 * Every TypeScript block of the README compiles. A block whose first line
 * names a file of an example (`// examples/clickstream/src/lambda.ts`) must be
 * that file, word for word (the workspace type-checks the examples); every
 * other block is written to a fresh folder inside an example project (so its
 * imports resolve as a user's would), as the file its first line names, and
 * type-checked with the workspace's compiler options. An error names the
 * README's line.
 */
import { describe, expect, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const guidePath = "README.md"

interface Snippet {
  /** Path inside the project, from the block's first line (`// src/events.ts`). */
  readonly file: string
  /** Line of the guide holding the block's first line of code, 1-based. */
  readonly line: number
  readonly code: string
}

/** The ```ts blocks of a Markdown text. */
export const snippets = (markdown: string): Array<Snippet> => {
  const out: Array<Snippet> = []
  const lines = markdown.split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trim() !== "```") end++
    const code = lines.slice(start, end).join("\n")
    const named = /^\/\/ ((?:examples\/[\w-]+\/)?(?:src|test)\/[\w./-]+\.ts)$/.exec(lines[start]?.trim() ?? "")
    out.push({ file: named?.[1] ?? `snippet-${out.length + 1}.ts`, line: start + 1, code })
    i = end
  }
  return out
}

/** The type errors of the snippets, each as `README.md:<line>: <message>`. */
const typeErrors = (blocks: ReadonlyArray<Snippet>): Array<string> => {
  // Inside an example project: its package.json depends on the eddy packages a user installs.
  const folder = mkdtempSync(join(root, "examples/clickstream/.guide-"))
  try {
    const files = new Map<string, Snippet>()
    for (const block of blocks) {
      const path = join(folder, block.file)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, block.code)
      files.set(path, block)
    }
    const config = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!
    const program = ts.createProgram(Array.from(files.keys()), config.options)
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, "\n")
      const block = d.file === undefined ? undefined : files.get(d.file.fileName)
      if (d.file === undefined || block === undefined) return `${d.file ? relative(root, d.file.fileName) : "(program)"}: ${message}`
      const { line } = d.file.getLineAndCharacterOfPosition(d.start!)
      return `${guidePath}:${block.line + line}: ${message}`
    })
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}

describe("the README's TypeScript", () => {
  const all = snippets(readFileSync(join(root, guidePath), "utf8"))
  const fromExamples = all.filter((b) => b.file.startsWith("examples/"))
  const blocks = all.filter((b) => !b.file.startsWith("examples/"))

  it("shows the example project's files as they are", () => {
    expect(fromExamples.map((b) => b.file)).toEqual([
      "examples/clickstream/src/pipelines.ts",
      "examples/clickstream/src/lambda.ts",
      "examples/clickstream/src/service.ts"
    ])
    for (const block of fromExamples) {
      const shown = block.code.split("\n").slice(1).join("\n")
      expect(shown, `${guidePath}:${block.line}`).toBe(readFileSync(join(root, block.file), "utf8").replace(/\n$/, ""))
    }
  })

  it("has a TypeScript block for each step of the guide, each its own file", () => {
    expect(blocks.map((b) => b.file)).toEqual([
      "src/events.ts",
      "src/readings.ts",
      "src/pipelines.ts",
      "src/more.ts",
      "src/late.ts",
      "src/finals.ts",
      "src/local.ts",
      "test/pipelines.test.ts",
      "src/state.ts",
      "src/lambda.ts",
      "src/service.ts",
      "src/stack.ts",
      "src/stores.ts",
      "src/aggregated.ts",
      "src/fanout.ts",
      "src/shadow.ts",
      "src/producer.ts",
      "src/hot.ts"
    ])
  })

  it("compiles every TypeScript block", () => {
    expect(typeErrors(blocks)).toEqual([])
    // Type-checking Effect and the CDK's types takes most of a minute on a busy machine.
  }, 300_000)

  it("reports an error at its line of the guide", () => {
    const broken = [{ file: "src/broken.ts", line: 40, code: "export const n: number = 1\nexport const s: string = 2" }]
    expect(typeErrors(broken)).toEqual([`${guidePath}:41: Type 'number' is not assignable to type 'string'.`])
  }, 120_000)
})
