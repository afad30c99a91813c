import { Effect, type Scope } from "effect"
import { createRequire } from "node:module"
import type { Server } from "node:http"
import { listen } from "./internal/server"

const require = createRequire(import.meta.url)

/** Options of the local Kinesis: its port and shard limits. */
export interface Options {
  /** Most shards the emulator allows across streams (kinesalite's default is 10). */
  readonly shardLimit?: number
  /** The port to listen on; default a free one. */
  readonly port?: number
}

/**
 * Starts kinesalite in this process on a free port (or `options.port`), in memory, with stream
 * creation and resharding taking effect at once. Speaks HTTP/1.1 only: give
 * the SDK client a `NodeHttpHandler`.
 */
export const start = (options: Options = {}): Effect.Effect<{ readonly endpoint: string; readonly port: number }, Error, Scope.Scope> =>
  Effect.suspend(() => {
    const kinesalite = require("kinesalite") as (opts: object) => Server
    return listen("kinesalite", kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: options.shardLimit ?? 1000 }), options.port)
  })
