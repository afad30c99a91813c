import { type Config, type ConfigError, Duration, Effect, Layer } from "effect"
import { type Claim, type ClaimResult, conflict, Deduper, DeduperError, DeduperMisconfiguredError } from "@eddy/core/Deduper"
import type { ChainableCommander, Redis } from "ioredis"
import { defineScript, misconfiguredCodes, replies, replyCode, type ScriptArg } from "./internal/script"
import { RedisClient } from "./RedisClient"

/**
 * Event-id claims in Redis: `SET <namespace>:<eventId> <owner> NX PX <retention>`,
 * and when the key exists, a comparison of its owner with the claimant. Both
 * run in one Lua script, so a claim is atomic: no expiry or other claim can
 * slip between the SET and the GET (which two round trips would allow). One
 * script call claims up to a thousand ids in order, and a chunk's calls go
 * out in one pipeline, in order, so of two claims of the same id in one chunk
 * the first wins.
 *
 * Never fail-open: a connection or server error fails the whole batch with
 * `DeduperError`; nothing is reported as first seen unless Redis said so.
 * Claims outlive a server restart only if the server persists them (AOF with
 * `appendfsync always`, or `everysec` accepting up to a second of claims lost
 * on a crash); a server that forgets claims lets a later duplicate through.
 */

// KEYS are the claims' keys, ARGV[1] the retention in ms, then each claim's owner and payload hash ('' for none).
// A key's value is `<owner>` or `<owner>\n<payload hash>`. Answers per claim 1 (held by its owner), 0 (a duplicate) or the holder's other hash.
const claimScript = `
local answers = {}
for i, key in ipairs(KEYS) do
  local owner, hash = ARGV[2 * i], ARGV[2 * i + 1]
  local value = hash == '' and owner or owner .. '\\n' .. hash
  if redis.call('SET', key, value, 'NX', 'PX', ARGV[1]) then
    answers[i] = 1
  else
    local held = redis.call('GET', key)
    local cut = string.find(held, '\\n', 1, true)
    if (cut and string.sub(held, 1, cut - 1) or held) == owner then
      answers[i] = 1
    elseif cut == nil or hash == '' or string.sub(held, cut + 1) == hash then
      answers[i] = 0
    else
      answers[i] = string.sub(held, cut + 1)
    end
  end
end
return answers`

// Deletes each claim of KEYS while its owner (ARGV, in the same order) holds it.
const releaseScript = `
for i, key in ipairs(KEYS) do
  local owner, held = ARGV[i], redis.call('GET', key)
  if held and (held == owner or string.sub(held, 1, #owner + 1) == owner .. '\\n') then redis.call('DEL', key) end
end
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
 * Claims per script call. One call per claim cost the client a command
 * object, a promise and a timer each, most of the deduper's CPU and garbage;
 * a thousand claims keep each call's run on the server near a millisecond.
 */
const CLAIMS_PER_CALL = 1_000

/** The calls of `items`, `CLAIMS_PER_CALL` at a time, in order, in one pipeline; the replies of all, in order. */
const inCalls = async <A>(redis: Redis, items: ReadonlyArray<A>, queue: (pipeline: ChainableCommander, items: ReadonlyArray<A>) => void) => {
  const pipeline = redis.pipeline()
  for (let from = 0; from < items.length; from += CLAIMS_PER_CALL) queue(pipeline, items.slice(from, from + CLAIMS_PER_CALL))
  return replies(await pipeline.exec())
}

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
    const claim = defineScript(redis, "eddyDedupClaimMany", undefined, claimScript)
    const release = defineScript(redis, "eddyDedupReleaseMany", undefined, releaseScript)
    const keyOf = (c: Claim) => `${options.namespace}:${c.eventId}`
    /** One claim call's arguments, in the script's order: the key count, the keys, the retention, each claim's owner and hash. */
    const claimArgs = (batch: ReadonlyArray<Claim>) => {
      const args: Array<ScriptArg> = [batch.length]
      for (const c of batch) args.push(keyOf(c))
      args.push(retentionMs)
      for (const c of batch) args.push(c.owner, c.payloadHash ?? "")
      return args
    }
    return Deduper.of({
      claim: (claims) =>
        claims.length === 0 ? Effect.succeed([]) : Effect.tryPromise({
          try: async () => {
            const calls = await inCalls(redis, claims, (pipeline, batch) => claim.queue(pipeline, ...claimArgs(batch)))
            return (calls as ReadonlyArray<ReadonlyArray<number | string>>).flatMap((answers) =>
              answers.map((r): ClaimResult => r === 1 ? true : typeof r === "string" ? conflict(r) : false)
            )
          },
          catch: toDeduperError(`check ${claims.length} event ids`)
        }),
      release: (claims) =>
        claims.length === 0 ? Effect.void : Effect.tryPromise({
          try: () =>
            inCalls(redis, claims, (pipeline, batch) => release.queue(pipeline, batch.length, ...batch.map(keyOf), ...batch.map((c) => c.owner))),
          catch: toDeduperError(`release ${claims.length} event ids`)
        })
    })
  })

/** `make` as a layer; needs a `RedisClient`. */
export const layer = (options: Options): Layer.Layer<Deduper, never, RedisClient> => Layer.effect(Deduper, make(options))

/** `layer` with its options from `config`. */
export const layerConfig = (config: Config.Config<Options>): Layer.Layer<Deduper, ConfigError.ConfigError, RedisClient> =>
  Layer.effect(Deduper, Effect.flatMap(config, make))
