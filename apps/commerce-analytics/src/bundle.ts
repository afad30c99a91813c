/**
 * The deployable files, each one minified ES module bundled by esbuild with
 * every dependency inside (the workspace packages are TypeScript source):
 *
 * - `dist/lambda.mjs`: the Lambda handler (`lambda.handler`).
 * - `dist/service.mjs`: the ECS service, which the Dockerfile runs.
 * - `dist/cli.mjs`: the `eddy-analytics` query command.
 * - `dist/sync.mjs`: the commerce-sync HTTP service, which its Dockerfile runs.
 *
 * They target Node 22 and later: the Lambda runtime is `nodejs24.x`, the
 * images run Node 24, and the AWS SDK needs Node 22 from 2027 on.
 *
 * The AWS SDK is bundled too, although the Lambda runtime ships
 * one: the bundle then runs the SDK version the tests ran, and esbuild keeps
 * only the clients and code paths used, which loads faster than the
 * runtime's complete SDK packages.
 *
 * Run `pnpm --filter @eddy/commerce-analytics bundle`; it prints each file's size.
 */
import { build, type Plugin } from "esbuild"
import { readFile } from "node:fs/promises"
import { statSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const entries = {
  lambda: "src/lambda.ts",
  service: "src/service.ts",
  cli: "src/cli.ts",
  sync: "../commerce-sync/src/main.ts"
} as const

export type Entry = keyof typeof entries

/** The app's directory. */
export const root = fileURLToPath(new URL("..", import.meta.url))

export interface Bundled {
  readonly entry: Entry
  /** Absolute path of the `.mjs` file. */
  readonly outfile: string
  readonly bytes: number
}

export interface Options {
  /** Where the files go, default `dist` in the app. */
  readonly outdir?: string
  /** Packages left out of the bundle, e.g. `["@aws-sdk/*"]` to use the Lambda runtime's SDK. */
  readonly external?: ReadonlyArray<string>
}

const effectBarrel = /import\s+(type\s+)?\{([^}]*)\}\s*from\s*"effect"/g

/**
 * `import { Effect, Schema } from "effect"` as `import * as Effect from
 * "effect/Effect"` and so on, in the workspace's own sources. The barrel
 * re-exports every module as a namespace object (`export * as Schema`),
 * which esbuild keeps whole; imported from its own path, a module is
 * tree-shaken to what is used, which halves the Effect code in a bundle.
 */
export const effectModules: Plugin = {
  name: "effect-modules",
  setup(build) {
    build.onLoad({ filter: /\/(packages|apps)\/[^/]+\/src\/.*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, "utf8")
      const contents = source.replace(effectBarrel, (_, typeOnly: string | undefined, names: string) =>
        names.split(",").map((name) => name.trim()).filter((name) => name !== "").map((name) => {
          const [, type, module, alias] = /^(type\s+)?(\w+)(?:\s+as\s+(\w+))?$/.exec(name) ?? []
          if (module === undefined) throw new Error(`${args.path}: cannot read the effect import ${JSON.stringify(name)}`)
          return `import ${typeOnly ?? type ?? ""}* as ${alias ?? module} from "effect/${module}"`
        }).join("; "))
      return { contents, loader: "ts" }
    })
  }
}

/**
 * The Lambda handler's credentials come from its environment only
 * (`src/lambdaCredentials.ts`): the SDK's default chain is resolved there
 * instead of `@aws-sdk/credential-provider-node`. The service and the CLIs
 * keep the whole chain (ECS task roles, profiles, SSO).
 */
export const lambdaCredentials: Plugin = {
  name: "lambda-credentials",
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: `${root}src/lambdaCredentials.ts` }))
  }
}

// CommonJS dependencies inside an ES module call `require` for Node's built-in modules.
const requireShim = `import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);`

export const bundle = async (entry: Entry, options: Options = {}): Promise<Bundled> => {
  const outdir = options.outdir ?? `${root}dist`
  const outfile = `${outdir}/${entry}.mjs`
  await build({
    absWorkingDir: root,
    entryPoints: [entries[entry]],
    outfile,
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    // ES module builds first: they tree-shake, CommonJS builds do not.
    mainFields: ["module", "main"],
    minify: true,
    sourcemap: "linked",
    legalComments: "linked",
    banner: { js: requireShim },
    external: [...(options.external ?? [])],
    plugins: entry === "lambda" ? [effectModules, lambdaCredentials] : [effectModules],
    logLevel: "warning"
  })
  return { entry, outfile, bytes: statSync(outfile).size }
}

export const bundleAll = (options?: Options): Promise<ReadonlyArray<Bundled>> =>
  Promise.all((Object.keys(entries) as Array<Entry>).map((entry) => bundle(entry, options)))

const isMain = process.argv[1] !== undefined && import.meta.filename === process.argv[1]

if (isMain) {
  const bundled = await bundleAll()
  for (const b of bundled) console.log(`${b.outfile.slice(root.length).padEnd(18)} ${(b.bytes / 1024).toFixed(0).padStart(6)} KiB`)
}
