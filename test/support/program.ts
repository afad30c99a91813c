/**
 * A test's TypeScript program as one ES module, bundled by esbuild with its
 * dependencies inside, for tests that start it as a child process with plain
 * `node`: as the service image runs its bundle, and without a TypeScript
 * loader, which costs each process seconds of start-up.
 */
import { build, type Plugin } from "esbuild"
import { mkdirSync, mkdtempSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { pathToFileURL } from "node:url"

// CommonJS dependencies inside an ES module call `require` for Node's built-in modules.
const requireShim = `import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);`

const resolvedFromHere = /createRequire\(import\.meta\.url\)|,\s*import\.meta\.url\)/g

/**
 * Paths resolved against a workspace source file (`createRequire(import.meta.url)`,
 * `new URL("../package.json", import.meta.url)`) keep resolving from that
 * file, as they do unbundled, wherever the bundle is written.
 */
const sourceRelative: Plugin = {
  name: "source-relative",
  setup(build) {
    build.onLoad({ filter: /\/(packages|apps)\/[^/]+\/src\/.*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, "utf8")
      const url = JSON.stringify(pathToFileURL(args.path).href)
      return { contents: source.replace(resolvedFromHere, (match) => match.replace("import.meta.url", url)), loader: "ts" }
    })
  }
}

export interface Options {
  /** Where the bundle goes: by default a new directory under the system's temporary directory. */
  readonly outdir?: string
  /** Packages left out, resolved at run time from `outdir`. */
  readonly external?: ReadonlyArray<string>
}

/** Bundles `entry` (a path); returns the bundle's path. */
export const bundle = async (entry: string, options: Options = {}): Promise<string> => {
  const outdir = options.outdir ?? mkdtempSync(join(tmpdir(), "eddy-program-"))
  mkdirSync(outdir, { recursive: true })
  const outfile = join(outdir, `${basename(entry, ".ts")}.mjs`)
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    mainFields: ["module", "main"],
    banner: { js: requireShim },
    external: [...(options.external ?? [])],
    plugins: [sourceRelative],
    logLevel: "warning"
  })
  return outfile
}
