import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Layer } from "effect"
import * as RedisClient from "../src/RedisClient"
import * as RedisServer from "./support/RedisServer"

describe("RedisClient", () => {
  it.scopedLive("layerConfig reads the URL from the Config it is given and connects", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start({ persist: false })
      const pong = yield* Effect.flatMap(RedisClient.RedisClient, (redis) => Effect.promise(() => redis.ping())).pipe(
        Effect.provide(
          RedisClient.layerConfig({ url: Config.redacted("CACHE_URL") }).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["CACHE_URL", server.url]]))))
          )
        )
      )
      expect(pong).toBe("PONG")
    }))

  it.scopedLive("fails with RedisConnectionError when nothing listens", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start({ persist: false })
      yield* server.kill
      const error = yield* Effect.flip(RedisClient.make({ url: server.url }))
      expect(error).toBeInstanceOf(RedisClient.RedisConnectionError)
      expect(error.message).toMatch(/cannot connect to Redis at 127\.0\.0\.1:\d+: .*check the Redis URL/)
    }))
})
