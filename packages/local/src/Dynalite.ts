import { Effect, type Scope } from "effect"
import { createRequire } from "node:module"
import type { Server } from "node:http"
import { listen } from "./internal/server"

const require = createRequire(import.meta.url)

/** Options of the local DynamoDB: its port. */
export interface Options {
  /** The port to listen on; default a free one. */
  readonly port?: number
}

/**
 * Starts dynalite (a DynamoDB emulator) in this process on a free port (or
 * `options.port`), in memory, with table changes taking effect at once. It has
 * no transactions; eddy's stores do not need them.
 */
export const start = (options: Options = {}): Effect.Effect<{ readonly endpoint: string; readonly port: number }, Error, Scope.Scope> =>
  Effect.suspend(() => {
    const dynalite = require("dynalite") as (opts: object) => Server
    return listen("dynalite", dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }), options.port)
  })
