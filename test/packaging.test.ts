/**
 * The published packages work for a user. Every library is built and packed
 * as `pnpm publish` packs it, the tarballs are installed with npm into a
 * fresh project outside the workspace (test/fixtures/user-project), and
 * there tsc type-checks the project against the published declarations and
 * plain Node, with no TypeScript loader, runs its own page-view pipelines
 * through the Lambda handler and the Processor on in-memory state, and the
 * installed `eddy` command describes them.
 *
 * Third-party packages come from npm's content-addressed cache under
 * node_modules/.cache when an earlier run downloaded them; the eddy packages
 * are packed and installed anew on every run.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const fixture = join(root, "test", "fixtures", "user-project")
const npmCache = join(root, "node_modules", ".cache", "packaging-npm")

interface Manifest {
  readonly name: string
  readonly private?: boolean
  readonly packageManager?: string
  readonly dependencies?: Record<string, string>
  readonly devDependencies?: Record<string, string>
  readonly publishConfig?: { readonly bin?: Record<string, string> }
}

const readJson = <A>(path: string): A => JSON.parse(readFileSync(path, "utf8")) as A

/** The library packages: every package under packages/ that is not private. */
const libraries = readdirSync(join(root, "packages"))
  .filter((dir) => existsSync(join(root, "packages", dir, "package.json")))
  .map((dir) => ({ dir: join(root, "packages", dir), manifest: readJson<Manifest>(join(root, "packages", dir, "package.json")) }))
  .filter((p) => p.manifest.private !== true)

/** Whether a source file is what the published manifest runs as a command (`eddy`): a program, not a module to import. */
const isBin = (manifest: Manifest, file: string): boolean =>
  Object.values(manifest.publishConfig?.bin ?? {}).includes(`./dist/${basename(file, ".ts")}.js`)

/** What a user may import: each package's root and its modules in src/, but not src/internal/ nor a command's entry. */
const publicSpecifiers = libraries.flatMap(({ dir, manifest }) => [
  manifest.name,
  ...readdirSync(join(dir, "src"))
    .filter((file) => file.endsWith(".ts") && file !== "index.ts" && !isBin(manifest, file))
    .map((file) => `${manifest.name}/${basename(file, ".ts")}`)
])

/** The environment of a child process, without the npm and pnpm settings of the process that runs the tests. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && name !== "NODE_OPTIONS"))

interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a child process to its end; asynchronously, so the test worker keeps answering the runner meanwhile.
 * One still running after `deadlineMillis` is killed, and what it printed until then is in the result.
 */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = cleanEnv(), deadlineMillis?: number): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    const deadline = deadlineMillis === undefined ? undefined : setTimeout(() => {
      stderr += `\n[killed: still running after ${deadlineMillis} ms]`
      child.kill("SIGKILL")
    }, deadlineMillis)
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    child.on("error", reject)
    child.on("close", (status) => {
      clearTimeout(deadline)
      resolve({ status, stdout, stderr })
    })
  })

/** Runs a step that must succeed, failing with its output otherwise. */
const step = async (what: string, command: string, args: ReadonlyArray<string>, cwd: string, env?: NodeJS.ProcessEnv): Promise<string> => {
  const ran = await run(command, args, cwd, env)
  if (ran.status !== 0) throw new Error(`${what} failed (exit ${ran.status}):\n${ran.stdout}\n${ran.stderr}`)
  return ran.stdout
}

/** pnpm as the workspace runs it: the one running the tests, or the version the root manifest names. */
const pnpm = (): { readonly command: string; readonly prefix: ReadonlyArray<string> } => {
  const execpath = process.env.npm_execpath
  if (execpath !== undefined && /pnpm/.test(basename(execpath)) && /\.c?js$/.test(execpath)) return { command: process.execPath, prefix: [execpath] }
  return { command: "npx", prefix: ["-y", readJson<Manifest>(join(root, "package.json")).packageManager ?? "pnpm"] }
}

/** Modules that load only inside a test runner (they register tests with @effect/vitest). */
const testRunnerOnly = new Set(["@eddy/testing/LeasesSuite", "@eddy/testing/StoreSuite"])

/** A TypeScript file importing every public module: tsc checks each one's declarations. */
const everyModuleSource = (): string =>
  [
    "// Every public module of the installed eddy packages, as a user imports them.",
    ...publicSpecifiers.map((specifier, i) => `export type * as m${i} from "${specifier}"`),
    ""
  ].join("\n")

/** A script loading every public module in plain Node, and each internal one, printing what failed. */
const loadEveryModule = (): string =>
  [
    `const failed = []`,
    `for (const specifier of ${JSON.stringify(publicSpecifiers.filter((s) => !testRunnerOnly.has(s)))}) {`,
    `  await import(specifier).catch((e) => failed.push(specifier + ": " + e.message))`,
    `}`,
    `for (const specifier of ["@eddy/core/internal/chunk", "@eddy/kinesis/internal/batcher"]) {`,
    `  await import(specifier).then(() => failed.push(specifier + " loaded"), (e) => e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED" || failed.push(specifier + ": " + e.message))`,
    `}`,
    `console.log(JSON.stringify(failed))`
  ].join("\n")

/**
 * In one plain Node process, through the library: a built pipelines module
 * loads with no TypeScript loader (a probe in TypeScript still fails after
 * it), and a TypeScript one registers tsx's (the probe loads after it). The
 * probe has an enum, which tsx compiles and Node's own type stripping refuses.
 */
const loadPipelinesModules = `
import * as PipelinesModule from "@eddy/cli/PipelinesModule"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
writeFileSync("checks/probe.ts", "enum Probe { A = 1 }\\nexport const probe: number = Probe.A\\n")
const probe = (query) => import("./checks/probe.ts?" + query).then((m) => m.probe === 1 ? "loaded" : "wrong", (e) => e.code ?? e.message)
const names = (path) => Effect.runPromise(PipelinesModule.load(path)).then((ps) => ps.map((p) => p.name))
const built = await names("dist/pageViews.js")
const beforeSource = await probe("before")
const source = await names("src/pageViews.ts")
const afterSource = await probe("after")
console.log(JSON.stringify({ built, beforeSource, source, afterSource }))
`

let work: string
let project: string
let apiDocs: Promise<Ran>

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "eddy-packaging-"))
  project = join(work, "page-view-analytics")
  const tarballs = join(work, "tarballs")
  mkdirSync(tarballs)

  // Build as `pnpm build` does, then pack as `pnpm publish` would (publishConfig applied, workspace: ranges resolved).
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
  await step("the build", process.execPath, [tsc, "-b", "tsconfig.build.json"], root)
  await step("completing the relative imports", process.execPath, [join(root, "scripts", "complete-specifiers.mjs")], root)
  const typedoc = join(root, "node_modules", "typedoc", "bin", "typedoc")
  apiDocs = run(process.execPath, [typedoc, "--out", join(work, "api"), "--logLevel", "Warn"], root)
  const { command, prefix } = pnpm()
  const filters = libraries.flatMap((p) => ["--filter", p.manifest.name])
  // The build above is the packages' prepack script: it is not run again per package.
  await step("pnpm pack", command, [...prefix, "-r", ...filters, "pack", "--pack-destination", tarballs], root, { ...cleanEnv(), npm_config_ignore_scripts: "true" })
  const packed = new Map(readdirSync(tarballs).map((file) => [file, `file:${join(tarballs, file)}`]))
  const tarballOf = (name: string) => {
    const file = `${name.replace(/^@/, "").replace("/", "-")}-${readJson<{ version: string }>(join(root, "packages", name.split("/")[1]!, "package.json")).version}.tgz`
    const spec = packed.get(file)
    if (spec === undefined) throw new Error(`pnpm pack made no ${file} (made ${[...packed.keys()].join(", ")})`)
    return spec
  }

  // The user's project: their manifest, every eddy library from its tarball (and nested eddy dependencies too).
  cpSync(fixture, project, { recursive: true, filter: (source) => !/node_modules|[/\\]dist$/.test(source) })
  const manifest = readJson<Manifest & Record<string, unknown>>(join(project, "package.json"))
  const eddy = Object.fromEntries(libraries.map((p) => [p.manifest.name, tarballOf(p.manifest.name)]))
  const effect = readJson<Manifest>(join(root, "package.json")).devDependencies?.effect
  if (effect === undefined || !effect.includes("3.22")) throw new Error(`the workspace should pin effect 3.22, found ${effect}`)
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ ...manifest, dependencies: { ...manifest.dependencies, ...eddy, effect }, overrides: eddy }, null, 2)
  )
  mkdirSync(join(project, "checks"))
  writeFileSync(join(project, "checks", "everyModule.ts"), everyModuleSource())
  await step("npm install", "npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--cache", npmCache], project)
}, 300_000)

afterAll(async () => {
  // Let typedoc finish before its output folder goes.
  await apiDocs?.catch(() => undefined)
  if (work !== undefined) rmSync(work, { recursive: true, force: true })
})

/**
 * Type-checks the eddy declarations the user installed, as the user's tsconfig
 * reads them but without skipLibCheck, and prints the errors found in them:
 * an import they cannot resolve, or a type of a dependency they do not declare,
 * becomes `any` for a user who skips library checks, and an error for one who
 * does not. Errors inside third-party declarations are theirs and not counted.
 */
const checkDeclarations = `
import ts from "typescript"
const config = ts.getParsedCommandLineOfConfigFile("tsconfig.json", { skipLibCheck: false, noEmit: true }, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(String(d.messageText)) } })
const program = ts.createProgram([...config.fileNames, "checks/everyModule.ts"], config.options)
const ours = program.getSourceFiles().filter((f) => /node_modules[\\/]@eddy[\\/]/.test(f.fileName))
const everyModule = program.getSourceFiles().filter((f) => f.fileName.endsWith("checks/everyModule.ts"))
const errors = [...ours, ...everyModule].flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)])
console.log(ts.formatDiagnostics(errors, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => "\\n" }))
console.log("checked " + ours.length + " declaration files")
`

describe("the published packages, installed by a user", () => {
  it("type-check the user's TypeScript against the published declarations (NodeNext)", async () => {
    const tsc = join(project, "node_modules", "typescript", "bin", "tsc")
    const ran = await run(process.execPath, [tsc, "-p", "tsconfig.json"], project)
    expect(ran.stdout + ran.stderr).toBe("")
    expect(ran.status).toBe(0)
  }, 180_000)

  it("publish declarations that type-check on their own, every import resolved", async () => {
    const out = await step("checking the declarations", process.execPath, ["--input-type=module", "-e", checkDeclarations], project)
    const checked = /checked (\d+) declaration files/.exec(out)
    // Every public module's declarations, and those they import, are in the program.
    expect(Number(checked?.[1])).toBeGreaterThanOrEqual(publicSpecifiers.length)
    expect(out.replace(/checked \d+ declaration files/, "").trim()).toBe("")
  }, 180_000)

  it("run the user's own pipelines in plain Node through the Lambda handler and the Processor", async () => {
    const out = await step("the user's check", process.execPath, ["dist/check.js"], project)
    const line = out.split("\n").find((l) => l.startsWith("RESULT "))
    expect(line, out).toBeDefined()
    const { lambda, processor } = JSON.parse(line!.slice("RESULT ".length))
    const aggregates = {
      hitsHome: 3,
      hitsPricing: 2,
      hitsHomeAt9: 2,
      uniqueVisitors: 3,
      topPages: [{ item: "/", count: 3 }, { item: "/pricing", count: 2 }],
      longestView: 9000
    }
    // The poison record is dead-lettered and the producer duplicate counted once, so Lambda redelivers nothing.
    expect(lambda).toEqual({ response: { batchItemFailures: [] }, deadLetters: ["NotJsonError"], metricsDocuments: 5, ...aggregates })
    expect(processor).toEqual({
      outcomes: ["Applied", "Applied", "Applied", "Applied", "Applied", "Applied", "DeadLettered", "Duplicate"],
      deadLetters: ["NotJsonError"],
      ...aggregates
    })
  }, 60_000)

  it("load every public module in plain Node, and no internal one", async () => {
    const out = await step("loading every module", process.execPath, ["--input-type=module", "-e", loadEveryModule()], project)
    expect(JSON.parse(out)).toEqual([])
  }, 60_000)

  describe("the eddy command", () => {
    const env = () => ({ ...cleanEnv(), NO_COLOR: "1" })
    /** `eddy` as the user runs it: npx finds the installed binary (`--no`: it never fetches one; `--`: the rest is eddy's). */
    const npxEddy = (args: ReadonlyArray<string>) => run("npx", ["--no", "--", "eddy", ...args], project, env(), 25_000)
    /** The binary npm linked, run as a script would run it (its `#!` line starts Node), without npx's start-up. */
    const eddy = (args: ReadonlyArray<string>) => run(join(project, "node_modules", ".bin", "eddy"), args, project, env(), 45_000)
    const names = ["views_per_page_hourly", "unique_visitors_daily", "top_pages_daily", "longest_view"]

    it("prints its help and the package's version", async () => {
      const help = await npxEddy(["--help"])
      expect(help.status, help.stderr).toBe(0)
      for (const command of ["describe", "query", "tables create", "local up", "redrive"]) expect(help.stdout).toContain(command)
      const version = await npxEddy(["--version"])
      expect(version.status, version.stderr).toBe(0)
      expect(version.stdout.trim()).toBe(readJson<{ version: string }>(join(root, "packages", "cli", "package.json")).version)
    }, 60_000)

    // dist/pageViews.js is what tsc built from the user's sources in the first test.
    it.each(["src/pageViews.ts", "dist/pageViews.js"])("describes the user's pipelines from %s", async (module) => {
      const described = await eddy(["describe", "--pipelines", module, "--aggregate-table", "page-view-aggregates"])
      expect(described.status, described.stderr).toBe(0)
      expect(described.stdout).toContain("Pipelines of event source page-views")
      for (const name of names) expect(described.stdout).toMatch(new RegExp(`^\\s*${name}\\s+page\\.viewed\\s`, "m"))
      expect(described.stdout).toContain("DynamoDB table page-view-aggregates")
      expect(described.stderr).toBe("")
    }, 60_000)

    it("loads a built pipelines module without tsx, a TypeScript one with it", async () => {
      const out = await step("loading pipelines modules", process.execPath, ["--input-type=module", "-e", loadPipelinesModules], project)
      const loaded = JSON.parse(out)
      expect(loaded).toMatchObject({ built: names, source: names, afterSource: "loaded" })
      expect(loaded.beforeSource).not.toBe("loaded")
    }, 60_000)

    it("fails a user error with one message and no stack trace", async () => {
      const missing = await eddy(["describe", "--pipelines", "src/missing.ts"])
      expect(missing.status, missing.stderr).toBe(1)
      expect(missing.stderr.trim()).toBe("eddy: no pipelines module at src/missing.ts; give --pipelines the path of the module that exports them")
      expect(missing.stdout).toBe("")
    }, 60_000)
  })

  it("document the public modules: typedoc builds the API pages without errors", async () => {
    const out = join(work, "api")
    const ran = await apiDocs
    const log = ran.stdout + ran.stderr
    expect(ran.status, log).toBe(0)
    expect(log).not.toMatch(/\[error\]/)
    expect(existsSync(join(out, "index.html"))).toBe(true)
    // Public exports without a doc comment are warnings: reported, not failed.
    const undocumented = log.split("\n").filter((line) => line.includes("does not have any documentation")).length
    console.info(`typedoc: ${undocumented} public exports without documentation`)
  }, 300_000)

  it("ship a license, a description, a repository and Node engines in every manifest", () => {
    for (const { manifest } of libraries) {
      const installed = readJson<Record<string, unknown>>(join(project, "node_modules", manifest.name, "package.json"))
      expect(installed, manifest.name).toMatchObject({ license: "Apache-2.0", engines: { node: expect.any(String) }, repository: expect.anything() })
      expect(typeof installed.description, manifest.name).toBe("string")
      expect(existsSync(join(project, "node_modules", manifest.name, "LICENSE")), manifest.name).toBe(true)
      // The workspace's source entry points stay in the workspace; a command runs the built JavaScript.
      expect(JSON.stringify(installed.exports), manifest.name).not.toContain("./src/")
      for (const bin of Object.values((installed.bin ?? {}) as Record<string, string>)) {
        expect(bin, manifest.name).toMatch(/^(\.\/)?dist\/.+\.js$/)
        expect(existsSync(join(project, "node_modules", manifest.name, bin)), bin).toBe(true)
      }
    }
  })
})
