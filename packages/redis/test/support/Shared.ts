import { Config, Context, Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { defaultUrl, layerConfig, RedisClient } from "../../src/RedisClient"

/** The shared server's URL: `REDIS_URL`, default 127.0.0.1:6379. */
export const url = Config.redacted("REDIS_URL").pipe(Config.withDefault(Redacted.make(defaultUrl)))

/** A client of the shared server at `REDIS_URL` (default 127.0.0.1:6379), closed with the scope. */
export const client = Effect.map(Layer.build(layerConfig({ url })), (context) => Context.get(context, RedisClient))

/** A fresh namespace on the shared server; its keys are deleted when the scope closes. */
export const namespace = (prefix: string) =>
  Effect.flatMap(RedisClient, (redis) =>
    Effect.acquireRelease(Effect.sync(() => `${prefix}-${randomUUID()}`), (namespace) =>
      Effect.promise(async () => {
        const keys = await redis.keys(`*${namespace}*`)
        if (keys.length > 0) await redis.del(...keys)
      }).pipe(Effect.ignore)))
