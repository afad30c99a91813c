#!/usr/bin/env node
// The workspace's binary: the CLI from its TypeScript sources, under tsx's loader
// (which then loads a TypeScript `--pipelines` too). The published one is dist/main.js.
import { register } from "tsx/esm/api"

register()
await import("../src/main.ts")
