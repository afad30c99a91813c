import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { make } from "../../src/RedisClient"
import * as RedisServer from "./RedisServer"

/**
 * A `redis-server` of the test's own and a client of it, both stopped with
 * the scope: keys others left on the machine's server (a benchmark leaves
 * hundreds of thousands) can neither slow the test nor be touched by it.
 */
export const started = Effect.flatMap(RedisServer.start({ persist: false }), (server) => Effect.map(make({ url: server.url }), (client) => ({ server, client })))

/** The client of `started`, for tests that never touch the server itself. */
export const client = Effect.map(started, ({ client }) => client)

/** A fresh namespace, so tests on one server do not see each other's keys. */
export const namespace = (prefix: string) => Effect.sync(() => `${prefix}-${randomUUID()}`)
