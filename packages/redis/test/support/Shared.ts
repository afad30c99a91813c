import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { make } from "../../src/RedisClient"
import * as RedisServer from "./RedisServer"

/**
 * A client of a `redis-server` of the test's own, both stopped with the
 * scope: keys others left on the machine's server (a benchmark leaves
 * hundreds of thousands) can neither slow the test nor be touched by it.
 */
export const client = Effect.flatMap(RedisServer.start({ persist: false }), (server) => make({ url: server.url }))

/** A fresh namespace, so tests on one server do not see each other's keys. */
export const namespace = (prefix: string) => Effect.sync(() => `${prefix}-${randomUUID()}`)
