#!/usr/bin/env node
// The package ships TypeScript source; tsx compiles it on load, so no build step is needed.
import { tsImport } from "tsx/esm/api"

await tsImport("../src/cli.ts", import.meta.url)
