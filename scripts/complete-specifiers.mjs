#!/usr/bin/env node
/**
 * Completes the relative import specifiers of the compiled packages so plain
 * Node can load them: `import … from "./Store"` becomes `"./Store.js"`.
 *
 * The sources import extensionless, as `moduleResolution: "Bundler"` allows
 * (tsx, vitest and esbuild load them that way), and tsc emits specifiers as
 * written. Node's ESM loader, and TypeScript resolving a package's `.d.ts`
 * under `"moduleResolution": "NodeNext"`, need the file's full name. Each
 * specifier is completed to the file that exists next to it (`X.js`, or
 * `X/index.js`); one that resolves to no file fails the build. Idempotent.
 *
 * Usage: node scripts/complete-specifiers.mjs [dist folder...]; with no
 * folder, those of the projects tsconfig.build.json references.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import ts from "typescript"

const complete = /\.(?:js|mjs|cjs|json)$/

/**
 * The relative module specifiers of a file, as string literal nodes: of
 * imports and exports, `import("./x")` calls and `import("./x").T` types.
 * Parsed rather than matched, so examples in doc comments are left alone.
 */
const relativeSpecifiers = (file, text) => {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false)
  const found = []
  const visit = (node) => {
    let specifier
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) specifier = node.moduleSpecifier
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) specifier = node.argument.literal
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) specifier = node.arguments[0]
    if (specifier !== undefined && ts.isStringLiteral(specifier) && /^\.\.?\//.test(specifier.text)) found.push(specifier)
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found.map((literal) => ({ text: literal.text, start: literal.getStart(source) + 1, end: literal.getEnd() - 1 }))
}

/** The emitted files of a dist folder that import: JavaScript and declarations. */
const emitted = function*(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* emitted(path)
    else if (name.endsWith(".js") || name.endsWith(".d.ts")) yield path
  }
}

/** The completed specifier, or undefined when no emitted file answers it. */
const completion = (file, specifier) => {
  const target = resolve(dirname(file), specifier)
  const exists = (base) => existsSync(`${base}.js`) || (file.endsWith(".d.ts") && existsSync(`${base}.d.ts`))
  if (exists(target)) return `${specifier}.js`
  if (exists(join(target, "index"))) return `${specifier.replace(/\/$/, "")}/index.js`
  return undefined
}

/** The output folders of the projects the root tsconfig.build.json references. */
const referencedOutputs = () => {
  const root = ts.readConfigFile("tsconfig.build.json", ts.sys.readFile)
  if (root.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(root.error.messageText, "\n"))
  return root.config.references.map(({ path }) => {
    const project = ts.getParsedCommandLineOfConfigFile(path, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })
    return project.options.outDir
  })
}

const unresolved = []
let changed = 0
const folders = process.argv.length > 2 ? process.argv.slice(2) : referencedOutputs()
for (const dist of folders) {
  if (!existsSync(dist)) throw new Error(`${dist} does not exist: build the package first`)
  for (const file of emitted(dist)) {
    const text = readFileSync(file, "utf8")
    let next = text
    // From the last specifier back, so the earlier offsets stay valid.
    for (const specifier of relativeSpecifiers(file, text).reverse()) {
      if (complete.test(specifier.text)) continue
      const done = completion(file, specifier.text)
      if (done === undefined) unresolved.push(`${relative(process.cwd(), file)}: ${specifier.text}`)
      else next = next.slice(0, specifier.start) + done + next.slice(specifier.end)
    }
    if (next !== text) {
      writeFileSync(file, next)
      changed++
    }
  }
}
if (unresolved.length > 0) {
  console.error(`relative imports that name no emitted file:\n  ${unresolved.join("\n  ")}`)
  process.exit(1)
}
if (changed > 0) console.log(`completed the relative imports of ${changed} files`)
