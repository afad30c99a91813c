import { type Config, type ConfigError, Duration, Effect, Layer } from "effect"
import { Deduper, DeduperError } from "@eddy/core/Deduper"
import { defineScript, replies } from "./internal/script"
import { RedisClient } from "./RedisClient"

/**
 * Event-id claims in Redis: `SET <namespace>:<eventId> <owner> NX PX <retention>`,
 * and when the key exists, a comparison of its owner with the claimant. Both
 * run in one Lua script, so a claim is atomic: no expiry or other claim can
 * slip between the SET and the GET (which two round trips would allow). A
 * chunk's claims go out as one pipeline, in order, so of two claims of the
 * same id in one chunk the first wins.
 *
 * Never fail-open: a connection or server error fails the whole batch with
 * `DeduperError`; nothing is reported as first seen unless Redis said so.
 * Claims outlive a server restart only if the server persists them (AOF with
 * `appendfsync always`, or `everysec` accepting up to a second of claims lost
 * on a crash); a server that forgets claims lets a later duplicate through.
 */

const claimScript = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0`

export interface Options {
  /** Key prefix per application or pipeline, e.g. `eddy:dedup:orders`. */
  readonly namespace: string
  /** How long a claim is remembered; default one day. */
  readonly retention?: Duration.DurationInput
}

export const make = (options: Options) =>
  Effect.map(RedisClient, (redis) => {
    const retentionMs = Math.max(1, Math.round(Duration.toMillis(options.retention ?? Duration.days(1))))
    const claim = defineScript(redis, "eddyDedupClaim", 1, claimScript)
    return Deduper.of({
      claim: (claims) =>
        claims.length === 0 ? Effect.succeed([]) : Effect.tryPromise({
          try: async () => {
            const pipeline = redis.pipeline()
            for (const c of claims) claim.queue(pipeline, `${options.namespace}:${c.eventId}`, c.owner, retentionMs)
            return replies(await pipeline.exec()).map((r) => r === 1)
          },
          catch: (cause) =>
            new DeduperError({
              message: `Redis could not check ${claims.length} event ids (${(cause as Error)?.message ?? String(cause)}); none was treated as first seen, retry the batch`,
              cause
            })
        })
    })
  })

export const layer = (options: Options): Layer.Layer<Deduper, never, RedisClient> => Layer.effect(Deduper, make(options))

export const layerConfig = (config: Config.Config<Options>): Layer.Layer<Deduper, ConfigError.ConfigError, RedisClient> =>
  Layer.effect(Deduper, Effect.flatMap(config, make))
