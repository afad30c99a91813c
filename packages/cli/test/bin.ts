/**
 * The `eddy` binary as the CLI tests start it: the CLI's sources bundled into
 * one module, as the published build loads without a TypeScript loader.
 * `tsx` stays outside (the CLI loads it for a TypeScript `--pipelines`), so
 * the bundle is written inside the package, where `tsx` resolves.
 */
import { mkdirSync, mkdtempSync } from "node:fs"
import { join, resolve } from "node:path"
import { bundle } from "../../../test/support/program"

const cache = resolve(import.meta.dirname, "../node_modules/.cache/eddy-test")
mkdirSync(cache, { recursive: true })

export const bin = await bundle(resolve(import.meta.dirname, "../src/main.ts"), { outdir: mkdtempSync(join(cache, "bin-")), external: ["tsx"] })

/** The workspace's own binary (`pnpm eddy`): the sources under tsx's loader. */
export const workspaceBin = resolve(import.meta.dirname, "../bin/eddy.mjs")
