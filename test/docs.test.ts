/**
 * Every public export has a doc comment: the modules a published package
 * lists in its `publishConfig.exports` are read with the TypeScript compiler,
 * and each of their exports (re-exports followed to what they name) must
 * carry a `/** ... *\/` comment. A module re-exported whole (`export * as X`)
 * counts as documented by the comment that opens its file.
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

interface Manifest {
  readonly name: string
  readonly private?: boolean
  readonly publishConfig?: { readonly exports?: Record<string, string | null | { readonly default?: string }> }
}

/** The source file of each public module of each published package. */
export const publicModules = (): Array<{ readonly module: string; readonly file: string }> =>
  readdirSync(join(root, "packages")).flatMap((dir) => {
    const manifestPath = join(root, "packages", dir, "package.json")
    if (!existsSync(manifestPath)) return []
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest
    if (manifest.private === true) return []
    return Object.entries(manifest.publishConfig?.exports ?? {}).flatMap(([subpath, target]) => {
      const built = typeof target === "string" ? target : target?.default
      const match = built === undefined ? null : /^\.\/dist\/(.+)\.js$/.exec(built)
      if (match === null) return []
      return [{ module: `${manifest.name}${subpath === "." ? "" : subpath.slice(1)}`, file: join(root, "packages", dir, "src", `${match[1]}.ts`) }]
    })
  })

/** A file opens with a doc comment (the module's own). */
const opensWithDoc = (source: ts.SourceFile): boolean => source.getFullText().trimStart().startsWith("/**")

/** The statement holding a declaration (an `export * as X from` line, a `const` in its `export const`). */
const statementOf = (node: ts.Node): ts.Node => {
  let at = node
  while (at.parent !== undefined && !ts.isSourceFile(at.parent)) at = at.parent
  return at
}

const hasDoc = (symbol: ts.Symbol, checker: ts.TypeChecker): boolean =>
  symbol.getDocumentationComment(checker).length > 0 ||
  (symbol.declarations ?? []).some((d) => {
    if (ts.isSourceFile(d)) return false
    const statement = statementOf(d)
    const text = statement.getSourceFile().getFullText()
    return (ts.getLeadingCommentRanges(text, statement.pos) ?? []).some((c) => text.startsWith("/**", c.pos))
  })

/** The exports of `files` that carry no doc comment, as `module: name`. */
export const undocumented = (files: ReadonlyArray<{ readonly module: string; readonly file: string }>): Array<string> => {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!
  const program = ts.createProgram(files.map((f) => f.file), parsed.options)
  const checker = program.getTypeChecker()
  const missing: Array<string> = []
  for (const { file, module } of files) {
    const source = program.getSourceFile(file)
    if (source === undefined) {
      missing.push(`${module}: no source file ${file}`)
      continue
    }
    const moduleSymbol = checker.getSymbolAtLocation(source)
    if (moduleSymbol === undefined) continue
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      if (hasDoc(exported, checker)) continue
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      if (hasDoc(target, checker)) continue
      const moduleFile = target.declarations?.find(ts.isSourceFile)
      if (moduleFile !== undefined && opensWithDoc(moduleFile)) continue
      missing.push(`${module}: ${exported.name}`)
    }
  }
  return missing
}

describe("API documentation", () => {
  it("finds the public modules of the published packages", () => {
    const modules = publicModules()
    expect(modules.map((m) => m.module)).toContain("@eddy/core/Processor")
    expect(modules.map((m) => m.module)).toContain("@eddy/cli/Cli")
    // The `eddy` binary's entry is a program, not a module to import.
    expect(modules.map((m) => m.module)).not.toContain("@eddy/cli/main")
    for (const m of modules) expect(existsSync(m.file), m.file).toBe(true)
  })

  it("every public export has a doc comment", () => {
    expect(undocumented(publicModules())).toEqual([])
  }, 300_000) // one compiler program over every published module: minutes on a loaded machine
})
