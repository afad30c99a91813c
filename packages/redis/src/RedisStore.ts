import * as Backoff from "@eddy/core/Backoff"
import type { Json } from "@eddy/core/Json"
import type { Monoid } from "@eddy/core/Monoid"
import type { Position } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import * as Watermark from "@eddy/core/Watermark"
import { Clock, Config, type ConfigError, Duration, Effect, Layer, Option, Schedule } from "effect"
import type { ChainableCommander } from "ioredis"
import { defineScript, misconfiguredCodes, replyCode } from "./internal/script"
import { RedisClient } from "./RedisClient"

/**
 * Aggregates in Redis, with the DynamoDB store's exactly-once contract. Each
 * `(pipeline, key, bucket)` is one hash, `<namespace>:<pipeline>#<bucket>#<key>`:
 * `v` the state as JSON text, `ver` its version (compare-and-set states
 * only), and `wm:<shardId>` each shard's watermark (`@eddy/core/Watermark`).
 * Every write is one Lua script that changes the value and the shard's
 * watermark together and sets the key's expiry (`EXPIREAT`) from the window's
 * retention:
 *
 * - sum, count: add the delta if the watermark is below the first
 *   contribution; otherwise the script answers the watermark, and the store
 *   adds only the contributions after it, on condition it is unchanged.
 *   Lua adds doubles as JavaScript does, and keeps 17 significant digits.
 * - min, max: set the value if it improves on the stored one (idempotent: no
 *   watermark needed).
 * - the identity of an idempotent monoid (a final-value mark): the
 *   watermark alone, on the same condition as a sum's.
 * - sketches, sets, maps, first/last: read value, version and watermark,
 *   fold in the contributions after the watermark, and write on condition the
 *   version is unchanged (compare-and-set); a lost race reads again. A state
 *   of an idempotent monoid that already holds the delta gets the watermark
 *   alone, as a mark does.
 *
 * Under the "partitionKey" ordering (`Store.Ordering`) no watermark is
 * kept: one script claims each position of the write, a key
 * `<namespace>#c:<pipeline>#<bucket>#<key>#<shardId>#<position>` expiring
 * after `claimRetention`, and folds in the delta, atomically; if any
 * position was claimed before it changes nothing and answers which, and the
 * store sends the rest again.
 *
 * A chunk's writes go out as one pipeline per step. Aggregates outlive a
 * server restart only if the server persists them: run it with AOF
 * (`appendfsync always`, or `everysec` accepting up to a second of writes
 * lost on a crash, which a redelivery then cannot restore).
 */

// Lua setting \`v\` to the item's stored sum plus \`delta\` (a Lua expression); an error reply when the state is no number or the sum not finite.
const sumPlus = (delta: string) => `local stored = redis.call('HGET', KEYS[1], 'v')
local current = 0
if stored then
  current = tonumber(stored)
  if current == nil then return redis.error_reply('AGGREGATE_CHANGED the stored state is not a number') end
end
local v = current + tonumber(${delta})
if v ~= v or v == math.huge or v == -math.huge then return redis.error_reply('NOT_FINITE the sum is not a finite number') end`

// KEYS[1] item; ARGV: watermark field, mode ('first' | 'exact'), first or expected watermark, last, delta ('' for a mark:
// the watermark alone), expiresAt or ''. Answers 1 when applied, otherwise the stored watermark ('' when absent).
const addScript = `
local wm = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == 'first' then
  if wm and wm >= ARGV[3] then return wm end
elseif (wm or '') ~= ARGV[3] then return wm or '' end
if ARGV[5] == '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
  if ARGV[6] ~= '' then redis.call('EXPIREAT', KEYS[1], ARGV[6]) end
  return 1
end
${sumPlus("ARGV[5]")}
redis.call('HSET', KEYS[1], 'v', string.format('%.17g', v), ARGV[1], ARGV[4])
if ARGV[6] ~= '' then redis.call('EXPIREAT', KEYS[1], ARGV[6]) end
return 1`

// KEYS[1] item; ARGV: 'min' | 'max', value, expiresAt or ''.
const extremumScript = `
local stored = redis.call('HGET', KEYS[1], 'v')
local d = tonumber(ARGV[2])
if stored then
  local current = tonumber(stored)
  if current == nil then return redis.error_reply('AGGREGATE_CHANGED the stored state is not a number') end
  if (ARGV[1] == 'max' and d <= current) or (ARGV[1] == 'min' and d >= current) then return 0 end
end
redis.call('HSET', KEYS[1], 'v', ARGV[2])
if ARGV[3] ~= '' then redis.call('EXPIREAT', KEYS[1], ARGV[3]) end
return 1`

// KEYS[1] item; ARGV: expected version ('' when absent), state JSON, watermark field, last, expiresAt or ''. Answers 1, or 0 on a lost race.
const casScript = `
local ver = redis.call('HGET', KEYS[1], 'ver')
if (ver or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'ver', (tonumber(ver) or 0) + 1, ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('EXPIREAT', KEYS[1], ARGV[5]) end
return 1`

// KEYS[1] item, KEYS[2..] the claims; ARGV: 'add' | 'cas' | 'mark', expected version ('' when absent, cas), delta or state JSON,
// claims' expiry (epoch seconds), expiresAt or ''. Answers 1 when applied, 0 on a lost race (cas), else the 0-based
// indices of the claims held before (nothing changed).
const claimScript = `
local taken = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then taken[#taken + 1] = i - 2 end
end
if #taken > 0 then return taken end
if ARGV[1] == 'cas' then
  local ver = redis.call('HGET', KEYS[1], 'ver')
  if (ver or '') ~= ARGV[2] then return 0 end
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'ver', (tonumber(ver) or 0) + 1)
elseif ARGV[1] == 'add' then
  ${sumPlus("ARGV[3]")}
  redis.call('HSET', KEYS[1], 'v', string.format('%.17g', v))
end
if ARGV[1] ~= 'mark' and ARGV[5] ~= '' then redis.call('EXPIREAT', KEYS[1], ARGV[5]) end
for i = 2, #KEYS do redis.call('SET', KEYS[i], '1', 'EXAT', ARGV[4]) end
return 1`

/** Aggregates in Redis as a placement: name it as a pipeline's `store`, provide it with `layer(...).pipe(Store.as(RedisStore))`. */
export class RedisStore extends Store.Tag("@eddy/redis/RedisStore")<RedisStore>() {}

/** Where the store keeps its keys and how it retries lost races. */
export interface Options {
  /** Key prefix, e.g. `eddy:aggregates:orders`. */
  readonly namespace: string
  /** Retries of a write that lost a race (a concurrent compare-and-set, a moved watermark). */
  readonly conflictRetry?: Schedule.Schedule<unknown, unknown>
  /**
   * How long a record's claim (the "partitionKey" ordering's exactly-once
   * record) is kept, at most: longer than a record can be redelivered. A
   * window's retention shortens it. Default 8 days.
   */
  readonly claimRetention?: Duration.DurationInput
}

/** Conflicts: from 10 ms, jittered, each delay at most 500 ms, at most 8 retries. */
export const defaultConflictRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "10 millis", cap: "500 millis", times: 8 })

const describe = (ref: Store.ItemRef): string => `${ref.pipeline}/${ref.key}/${ref.bucket}`

/** What a write does next: send `command`, or it is settled (done or failed). */
type Step =
  | { readonly _tag: "Send"; readonly command: (p: ChainableCommander) => void; readonly onReply: (reply: unknown) => Step }
  | { readonly _tag: "Conflict"; readonly retry: Step }
  | { readonly _tag: "Done" }
  | { readonly _tag: "Failed"; readonly error: Store.StoreError }

const done: Step = { _tag: "Done" }
const failed = (error: Store.StoreError): Step => ({ _tag: "Failed", error })

/** A reply or connection failure as a store error: refused logins and out-of-memory are the deployment's, anything else retryable. */
const toStoreError = (what: string, cause: unknown): Store.StoreError => {
  const code = replyCode(cause)
  const message = (cause as Error)?.message ?? String(cause)
  if (misconfiguredCodes.has(code)) {
    return new Store.StoreMisconfiguredError({ code, message: `Redis refused ${what} (${message}): check the Redis user, password and ACL of this process`, cause })
  }
  if (code === "OOM") return new Store.StoreMisconfiguredError({ code, message: `Redis is out of memory for ${what}: raise maxmemory or shorten the windows' retention`, cause })
  if (code === "AGGREGATE_CHANGED") {
    return new Store.StoreMisconfiguredError({ code: "AggregateChanged", message: `${what}: ${message}; a pipeline whose aggregate changed needs a new name`, cause })
  }
  if (code === "NOT_FINITE") return new Store.StoreRejectedError({ message: `${what}: ${message}`, cause })
  return new Store.StoreUnavailableError({ message: `Redis could not do ${what} (${message}); retry the write`, cause })
}

const decodeJson = <A>(monoid: Monoid<A>, ref: Store.ItemRef, text: string): A | Store.StoreMisconfiguredError => {
  try {
    return monoid.decode(JSON.parse(text) as Json)
  } catch (cause) {
    return new Store.StoreMisconfiguredError({
      code: "AggregateChanged",
      message: `${describe(ref)} holds a state that is not a ${monoid.name} (${cause instanceof Error ? cause.message : String(cause)}); ` +
        `a pipeline whose aggregate changed needs a new name`,
      cause
    })
  }
}

/**
 * A `Store` on one Redis namespace (see the module comment for the layout and
 * the scripts). Needs a `RedisClient`.
 */
export const make = (options: Options) =>
  Effect.map(RedisClient, (redis) => {
    const conflictRetry = options.conflictRetry ?? defaultConflictRetry
    // The watermark a write first found, when it was past some of its contributions: its result is then `AlreadyApplied`.
    const skips = new WeakMap<Store.DeltaWrite, Store.AlreadyApplied>()
    const unapplied = (w: Store.DeltaWrite, stored: Position | undefined) => {
      const skip = Store.skipped(w, stored)
      if (skip !== undefined && !skips.has(w)) skips.set(w, skip)
      return Store.deltaAfter(w, stored)
    }
    const add = defineScript(redis, "eddyStoreAdd", 1, addScript)
    const extremum = defineScript(redis, "eddyStoreExtremum", 1, extremumScript)
    const cas = defineScript(redis, "eddyStoreCas", 1, casScript)
    const claim = defineScript(redis, "eddyStoreClaim", undefined, claimScript)
    const claimRetentionSeconds = Math.ceil(Duration.toSeconds(options.claimRetention ?? "8 days"))
    const keyOf = (ref: Store.ItemRef): string | { readonly rejected: string } =>
      ref.pipeline.length === 0 || ref.pipeline.includes("#") || ref.bucket.length === 0 || ref.bucket.includes("#")
        ? { rejected: `pipeline ${JSON.stringify(ref.pipeline)} and bucket ${JSON.stringify(ref.bucket)} must be non-empty without '#'` }
        : `${options.namespace}:${ref.pipeline}#${ref.bucket}#${ref.key}`

    const addStep = (w: Store.DeltaWrite, key: string, field: string, mode: "first" | "exact", watermark: string, delta: unknown, last: string, ttl: string): Step => ({
      _tag: "Send",
      command: (p) => add.queue(p, key, field, mode, watermark, last, Store.isMark(w, delta) ? "" : String(w.monoid.encode(delta)), ttl),
      onReply: (reply) => {
        if (reply === 1) return done
        const stored = reply as string
        const todo = unapplied(w, stored === "" ? undefined : Watermark.decode(stored))
        if (todo === undefined) return done
        const next = addStep(w, key, field, "exact", stored, todo.delta, Watermark.encode(todo.last), ttl)
        // A watermark that moved since the first answer is another writer's doing: back off, then catch up from where it is now.
        return mode === "first" ? next : { _tag: "Conflict", retry: next }
      }
    })

    const casStep = (w: Store.DeltaWrite, key: string, field: string, ttl: string): Step => ({
      _tag: "Send",
      command: (p) => void p.hmget(key, "v", "ver", field),
      onReply: (reply) => {
        const [value, version, stored] = reply as [string | null, string | null, string | null]
        const todo = unapplied(w, stored === null ? undefined : Watermark.decode(stored))
        if (todo === undefined) return done
        const current = value === null ? w.monoid.empty : decodeJson(w.monoid, w, value)
        if (current instanceof Store.StoreMisconfiguredError) return failed(current)
        let next: unknown
        let json: string
        try {
          next = w.monoid.combine(current, todo.delta)
          json = JSON.stringify(w.monoid.encode(next))
        } catch (cause) {
          return failed(new Store.StoreRejectedError({ message: `${describe(w)}: the new ${w.monoid.name} state cannot be encoded: ${String(cause)}`, cause }))
        }
        // The state already holds the delta: the watermark alone moves (as a mark's does), or a redelivery would count as applied again.
        if (w.monoid.idempotent && value !== null && w.monoid.equals(next, current)) {
          return {
            _tag: "Send",
            command: (p) => add.queue(p, key, field, "exact", stored ?? "", Watermark.encode(todo.last), "", ttl),
            onReply: (written) => written === 1 ? done : { _tag: "Conflict", retry: casStep(w, key, field, ttl) }
          }
        }
        return {
          _tag: "Send",
          command: (p) => cas.queue(p, key, version ?? "", json, field, Watermark.encode(todo.last), ttl),
          onReply: (written) => written === 1 ? done : { _tag: "Conflict", retry: casStep(w, key, field, ttl) }
        }
      }
    })

    /**
     * The "partitionKey" ordering: claim the pending positions and fold them
     * in with one script; positions claimed before are dropped (recorded as
     * skipped) and the rest sent again; a lost compare-and-set reads again.
     */
    const claimStep = (
      w: Store.DeltaWrite,
      key: string,
      ttl: string,
      strategy: "add" | "cas" | "mark",
      pending: ReadonlyArray<{ readonly position: Position; readonly delta: unknown }>,
      now: number
    ): Step => {
      if (pending.length === 0) return done
      const claimExpiry = String(Math.min(Math.floor(now / 1000) + claimRetentionSeconds, w.expiresAt ?? Number.POSITIVE_INFINITY))
      const claimKeys = pending.map(({ position }) => `${options.namespace}#c:${w.pipeline}#${w.bucket}#${w.key}#${w.shardId}#${Watermark.encode(position)}`)
      let delta = w.monoid.empty
      for (const c of pending) delta = w.monoid.combine(delta, c.delta)
      const onClaimReply = (reply: unknown, again: () => Step): Step => {
        if (reply === 1) return done
        if (reply === 0) return { _tag: "Conflict", retry: again() }
        const taken = new Set(reply as ReadonlyArray<number>)
        const skip = skips.get(w) ?? { _tag: "AlreadyApplied" as const, claimed: [] as Array<Position> }
        skips.set(w, skip)
        for (const i of taken) (skip.claimed as Array<Position>).push(pending[i]!.position)
        return claimStep(w, key, ttl, strategy, pending.filter((_, i) => !taken.has(i)), now)
      }
      const send = (mode: string, version: string, value: string): Step => ({
        _tag: "Send",
        command: (p) => claim.queue(p, claimKeys.length + 1, key, ...claimKeys, mode, version, value, claimExpiry, ttl),
        onReply: (reply) => onClaimReply(reply, () => claimStep(w, key, ttl, strategy, pending, now))
      })
      if (strategy === "mark") return send("mark", "", "")
      if (strategy === "add") return send("add", "", String(w.monoid.encode(delta)))
      return {
        _tag: "Send",
        command: (p) => void p.hmget(key, "v", "ver"),
        onReply: (reply) => {
          const [value, version] = reply as [string | null, string | null]
          const current = value === null ? w.monoid.empty : decodeJson(w.monoid, w, value)
          if (current instanceof Store.StoreMisconfiguredError) return failed(current)
          let json: string
          try {
            json = JSON.stringify(w.monoid.encode(w.monoid.combine(current, delta)))
          } catch (cause) {
            return failed(new Store.StoreRejectedError({ message: `${describe(w)}: the new ${w.monoid.name} state cannot be encoded: ${String(cause)}`, cause }))
          }
          return send("cas", version ?? "", json)
        }
      }
    }

    /** The first step of a write, or why it cannot be stored. */
    const firstStep = (w: Store.DeltaWrite, now: number): Step => {
      const key = keyOf(w)
      const cs = w.contributions
      const invalid = typeof key === "object" ? key.rejected : Watermark.invalid(cs[0]!.position) ?? Watermark.invalid(cs[cs.length - 1]!.position)
      if (invalid !== undefined || typeof key === "object") return failed(new Store.StoreRejectedError({ message: `${describe(w)}: ${invalid}` }))
      let encoded: Json
      try {
        encoded = w.monoid.encode(w.delta)
      } catch (cause) {
        return failed(new Store.StoreRejectedError({ message: `${describe(w)}: the ${w.monoid.name} delta cannot be encoded: ${String(cause)}`, cause }))
      }
      const ttl = w.expiresAt === undefined ? "" : String(w.expiresAt)
      const field = `wm:${w.shardId}`
      const kind = w.monoid.kind
      if (w.ordering === "partitionKey" && !(typeof encoded === "number" && (kind === "min" || kind === "max") && w.monoid.idempotent)) {
        const pending = Store.byPosition(w)
        const invalidClaim = pending.map(({ position }) => Watermark.invalid(position)).find((e) => e !== undefined)
        if (invalidClaim !== undefined) return failed(new Store.StoreRejectedError({ message: `${describe(w)}: ${invalidClaim}` }))
        const strategy = Store.isMark(w) ? "mark" : typeof encoded === "number" && (kind === "sum" || kind === "count") ? "add" : "cas"
        return claimStep(w, key, ttl, strategy, pending, now)
      }
      if ((typeof encoded === "number" && (kind === "sum" || kind === "count")) || Store.isMark(w)) {
        return addStep(w, key, field, "first", Watermark.encode(cs[0]!.position), w.delta, Watermark.encode(cs[cs.length - 1]!.position), ttl)
      }
      if (typeof encoded === "number" && (kind === "min" || kind === "max") && w.monoid.idempotent) {
        return { _tag: "Send", command: (p) => extremum.queue(p, key, kind, String(encoded), ttl), onReply: () => done }
      }
      return casStep(w, key, field, ttl)
    }

    /**
     * Runs the steps of `indices` to the end: each round sends every pending
     * command in one pipeline; writes that lost a race wait for the conflict
     * schedule, then go again.
     */
    const settle = (writes: ReadonlyArray<Store.DeltaWrite>, steps: Array<Step>, indices: ReadonlyArray<number>) => {
      let waiting = indices.filter((i) => steps[i]!._tag !== "Done" && steps[i]!._tag !== "Failed")
      const rounds = Effect.promise(async () => {
        let sending = waiting.map((i) => {
          const s = steps[i]!
          return s._tag === "Conflict" ? (steps[i] = s.retry, i) : i
        })
        const conflicted: Array<number> = []
        while (sending.length > 0) {
          const pipeline = redis.pipeline()
          for (const i of sending) (steps[i] as Extract<Step, { _tag: "Send" }>).command(pipeline)
          let results: Array<[Error | null, unknown]>
          try {
            results = (await pipeline.exec()) ?? []
          } catch (cause) {
            for (const i of sending) steps[i] = failed(toStoreError(`writing ${describe(writes[i]!)}`, cause))
            break
          }
          const next: Array<number> = []
          sending.forEach((i, j) => {
            const [error, reply] = results[j] ?? [new Error("the pipeline was discarded"), undefined]
            const step = steps[i] as Extract<Step, { _tag: "Send" }>
            const after = error !== null ? failed(toStoreError(`writing ${describe(writes[i]!)}`, error)) : step.onReply(reply)
            steps[i] = after
            if (after._tag === "Send") next.push(i)
            else if (after._tag === "Conflict") conflicted.push(i)
          })
          sending = next
        }
        waiting = conflicted
        return conflicted.length > 0
      })
      return Effect.retry(Effect.flatMap(rounds, (again) => (again ? Effect.fail("conflict" as const) : Effect.void)), conflictRetry).pipe(
        Effect.catchAll(() =>
          Effect.sync(() => {
            for (const i of waiting) {
              steps[i] = failed(new Store.StoreUnavailableError({ message: `writing ${describe(writes[i]!)}: concurrent writes kept changing the item; retry the write` }))
            }
          })
        )
      )
    }

    const apply = (writes: ReadonlyArray<Store.DeltaWrite>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const steps = writes.map((w) => firstStep(w, now))
        // Writes to one item run one after the other (in rounds); different items go out together.
        const groups = new Map<string, Array<number>>()
        writes.forEach((w, i) => {
          const id = Store.itemId(w)
          const group = groups.get(id)
          if (group === undefined) groups.set(id, [i])
          else group.push(i)
        })
        const rounds: Array<Array<number>> = []
        for (const group of groups.values()) group.forEach((i, r) => (rounds[r] ??= []).push(i))
        return Effect.forEach(rounds, (round) => settle(writes, steps, round), { discard: true }).pipe(
          Effect.map(() => steps.map((s, i): Store.WriteResult => (s._tag === "Failed" ? s.error : skips.get(writes[i]!))))
        )
      })

    const getMany = <A>(monoid: Monoid<A>, refs: ReadonlyArray<Store.ItemRef>) =>
      Effect.suspend(() => {
        const keys: Array<string> = []
        for (const ref of refs) {
          const key = keyOf(ref)
          if (typeof key === "object") return Effect.fail(new Store.StoreRejectedError({ message: `${describe(ref)}: ${key.rejected}` }))
          keys.push(key)
        }
        if (keys.length === 0) return Effect.succeed([])
        return Effect.tryPromise({
          try: async () => {
            const pipeline = redis.pipeline()
            for (const key of keys) pipeline.hget(key, "v")
            return (await pipeline.exec()) ?? []
          },
          catch: (cause) => toStoreError(`reading ${keys.length} items`, cause)
        }).pipe(Effect.flatMap((results) => {
          const values: Array<Option.Option<A>> = []
          for (let i = 0; i < refs.length; i++) {
            const [error, text] = results[i] ?? [new Error("the pipeline was discarded"), null]
            if (error !== null) return Effect.fail(toStoreError(`reading ${describe(refs[i]!)}`, error))
            if (text === null) values.push(Option.none())
            else {
              const value = decodeJson(monoid, refs[i]!, text as string)
              if (value instanceof Store.StoreMisconfiguredError) return Effect.fail(value)
              values.push(Option.some(value))
            }
          }
          return Effect.succeed(values as ReadonlyArray<Option.Option<A>>)
        }))
      })

    return Store.Store.of({ orderings: ["shard", "partitionKey"], apply, getMany })
  })

/** The store of pipelines that name none. Needs a `RedisClient`. */
export const layer = (options: Options): Layer.Layer<Store.Store, never, RedisClient> => Layer.effect(Store.Store, make(options))

/** Like `layer`, with the options from `config`, e.g. `{ namespace: Config.string("AGGREGATE_NAMESPACE") }`. Needs a `RedisClient`. */
export const layerConfig = (config: Config.Config.Wrap<Options>): Layer.Layer<Store.Store, ConfigError.ConfigError, RedisClient> =>
  Layer.effect(Store.Store, Effect.flatMap(Config.unwrap(config), make))
