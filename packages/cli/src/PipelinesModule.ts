/**
 * Loading a user's pipelines from a module: a TypeScript source (loaded with
 * tsx's loader, registered on first need) or a built `.js` (plain Node),
 * exporting `pipelines` or a default array of pipelines.
 */
import * as Pipeline from "@eddy/core/Pipeline"
import { Data, Effect } from "effect"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"

/** The module could not be loaded or exports no pipelines; the message says what to fix. */
export class PipelinesModuleError extends Data.TaggedError("PipelinesModuleError")<{ readonly message: string; readonly cause?: unknown }> {}

const typeScript = /\.[cm]?tsx?$/

/**
 * Registers tsx's loader once, for a TypeScript pipelines module. Not when
 * this module is itself TypeScript: then a loader is running already (the
 * workspace's binary, a test runner).
 */
let loader: Promise<unknown> | undefined
const typeScriptLoader = (): Promise<unknown> =>
  loader ??= typeScript.test(new URL(import.meta.url).pathname)
    ? Promise.resolve()
    : import("tsx/esm/api").then((tsx) => tsx.register())

const isPipeline = (value: unknown): value is Pipeline.Pipeline =>
  typeof value === "object" && value !== null && typeof (value as Pipeline.Pipeline).name === "string" &&
  typeof (value as Pipeline.Pipeline).run === "function" && typeof (value as Pipeline.Pipeline).aggregate === "object"

const pipelinesOf = (module: Record<string, unknown>): ReadonlyArray<Pipeline.Pipeline> | undefined => {
  for (const candidate of [module.pipelines, module.default]) {
    if (Array.isArray(candidate) && candidate.length > 0 && candidate.every(isPipeline)) return candidate
  }
  return undefined
}

/** The pipelines `path` exports (relative to the working directory), checked as the Processor checks them. */
export const load = (path: string): Effect.Effect<ReadonlyArray<Pipeline.Pipeline>, PipelinesModuleError> =>
  Effect.gen(function*() {
    const file = resolve(path)
    if (!existsSync(file)) return yield* new PipelinesModuleError({ message: `no pipelines module at ${path}; give --pipelines the path of the module that exports them` })
    const module = yield* Effect.tryPromise({
      try: async () => {
        if (typeScript.test(file)) await typeScriptLoader()
        return await import(pathToFileURL(file).href) as Record<string, unknown>
      },
      catch: (cause) => new PipelinesModuleError({ message: `cannot load ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
    })
    const pipelines = pipelinesOf(module)
    if (pipelines === undefined) {
      return yield* new PipelinesModuleError({ message: `${path} exports no pipelines; export a non-empty array as \`pipelines\` or as the default export` })
    }
    yield* Effect.try({
      try: () => Pipeline.validate(pipelines),
      catch: (cause) => new PipelinesModuleError({ message: `the pipelines of ${path} are not valid: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
    })
    return pipelines
  })

/** The pipeline named `name`. */
export const named = (pipelines: ReadonlyArray<Pipeline.Pipeline>, name: string): Effect.Effect<Pipeline.Pipeline, PipelinesModuleError> => {
  const found = pipelines.find((p) => p.name === name)
  return found !== undefined
    ? Effect.succeed(found)
    : Effect.fail(new PipelinesModuleError({ message: `there is no pipeline ${JSON.stringify(name)}; the pipelines are ${pipelines.map((p) => p.name).join(", ")}` }))
}
