#!/usr/bin/env node
// Runs the CLI under tsx's loader, so `--pipelines` may name a TypeScript module.
import { register } from "tsx/esm/api"

register()
await import("../src/main.ts")
