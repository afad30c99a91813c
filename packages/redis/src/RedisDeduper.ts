import { type Config, type ConfigError, Duration, Effect, Layer } from "effect"
import { type ClaimResult, conflict, Deduper, DeduperError, DeduperMisconfiguredError } from "@eddy/core/Deduper"
import { defineScript, misconfiguredCodes, replies, replyCode } from "./internal/script"
import { RedisClient } from "./RedisClient"

/**
 * Event-id claims in Redis: `SET <namespace>:<eventId> <owner> NX PX <retention>`,
 * and when the key exists, a comparison of its owner with the claimant. Both
 * run in one Lua script, so a claim is atomic: no expiry or other claim can
 * slip between the SET and the GET (which two round trips would allow). A
 * chunk's claims go out in pipelines of a thousand, one after another, in
 * order, so of two claims of the same id in one chunk the first wins.
 *
 * Never fail-open: a connection or server error fails the whole batch with
 * `DeduperError`; nothing is reported as first seen unless Redis said so.
 * Claims outlive a server restart only if the server persists them (AOF with
 * `appendfsync always`, or `everysec` accepting up to a second of claims lost
 * on a crash); a server that forgets claims lets a later duplicate through.
 */

// The value is `<owner>` or `<owner>\n<payload hash>`. Answers 1 (held by the owner), 0 (a duplicate) or the holder's other hash.
const claimScript = `
local value = ARGV[3] == '' and ARGV[1] or ARGV[1] .. '\\n' .. ARGV[3]
if redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[2]) then return 1 end
local held = redis.call('GET', KEYS[1])
local cut = string.find(held, '\\n', 1, true)
if (cut and string.sub(held, 1, cut - 1) or held) == ARGV[1] then return 1 end
if cut == nil or ARGV[3] == '' or string.sub(held, cut + 1) == ARGV[3] then return 0 end
return string.sub(held, cut + 1)`

// Deletes the claim while ARGV[1] owns it.
const releaseScript = `
local held = redis.call('GET', KEYS[1])
if held and (held == ARGV[1] or string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n') then redis.call('DEL', KEYS[1]) end
return 0`

/** A Redis error reply starts with its code (RESP): a refused login or ACL is the deployment's fault, anything else retryable. */
const toDeduperError = (what: string) => (cause: unknown) => {
  const code = replyCode(cause)
  return misconfiguredCodes.has(code)
    ? new DeduperMisconfiguredError({ code, message: `Redis refused ${what} (${(cause as Error).message}): check the Redis user, password and ACL of this process`, cause })
    : new DeduperError({
      message: `Redis could not ${what} (${(cause as Error)?.message ?? String(cause)}); none was treated as first seen, retry the batch`,
      cause
    })
}

/**
 * Commands per pipeline: a chunk's claims go out in pipelines of this many,
 * one after another, in order. The client keeps a promise and a timer per
 * command in flight, which for a whole 10,000-record flush per shard was tens
 * of megabytes of heap at once; a round trip per thousand claims costs little.
 */
const PIPELINE_COMMANDS = 1_000

/** The namespace of claim keys and how long claims are kept. */
export interface Options {
  /** Key prefix per application or pipeline, e.g. `eddy:dedup:orders`. */
  readonly namespace: string
  /** How long a claim is remembered; default one day. */
  readonly retention?: Duration.DurationInput
}

/** A `Deduper` on Redis. */
export const make = (options: Options) =>
  Effect.map(RedisClient, (redis) => {
    const retentionMs = Math.max(1, Math.round(Duration.toMillis(options.retention ?? Duration.days(1))))
    const claim = defineScript(redis, "eddyDedupClaim", 1, claimScript)
    const release = defineScript(redis, "eddyDedupRelease", 1, releaseScript)
    return Deduper.of({
      claim: (claims) =>
        claims.length === 0 ? Effect.succeed([]) : Effect.tryPromise({
          try: async () => {
            const out: Array<ClaimResult> = []
            for (let from = 0; from < claims.length; from += PIPELINE_COMMANDS) {
              const pipeline = redis.pipeline()
              for (const c of claims.slice(from, from + PIPELINE_COMMANDS)) {
                claim.queue(pipeline, `${options.namespace}:${c.eventId}`, c.owner, retentionMs, c.payloadHash ?? "")
              }
              for (const r of replies(await pipeline.exec())) out.push(r === 1 ? true : typeof r === "string" ? conflict(r) : false)
            }
            return out
          },
          catch: toDeduperError(`check ${claims.length} event ids`)
        }),
      release: (claims) =>
        claims.length === 0 ? Effect.void : Effect.tryPromise({
          try: async () => {
            for (let from = 0; from < claims.length; from += PIPELINE_COMMANDS) {
              const pipeline = redis.pipeline()
              for (const c of claims.slice(from, from + PIPELINE_COMMANDS)) release.queue(pipeline, `${options.namespace}:${c.eventId}`, c.owner)
              replies(await pipeline.exec())
            }
          },
          catch: toDeduperError(`release ${claims.length} event ids`)
        })
    })
  })

/** `make` as a layer; needs a `RedisClient`. */
export const layer = (options: Options): Layer.Layer<Deduper, never, RedisClient> => Layer.effect(Deduper, make(options))

/** `layer` with its options from `config`. */
export const layerConfig = (config: Config.Config<Options>): Layer.Layer<Deduper, ConfigError.ConfigError, RedisClient> =>
  Layer.effect(Deduper, Effect.flatMap(config, make))
