import { Chunk, type Config, type ConfigError, Context, Data, Duration, Effect, Layer, Random, type Scope } from "effect"
import { type Lease, type LeaseStoreError, type LeaseTable, type LeaseUpdate, taken, updated } from "./LeaseTable"
import * as LeaseTableMemory from "./LeaseTableMemory"
import type { Position } from "./SourceRecord"

/**
 * Shard leases and checkpoints in the manner of the Kinesis Client Library:
 * one lease per shard, held by at most one worker, kept alive by incrementing
 * its `leaseCounter`, with every write conditional on that counter. Workers
 * run a round on a heartbeat (`heartbeatInterval`): renew what they hold, take
 * what nobody renewed for `failoverTime`, and steal one lease per round from
 * the most loaded worker while they hold fewer than their fair share.
 *
 * Renewing needs no read, and a checkpoint written since the last round counts
 * as a renewal. Only taking needs the whole table, so a worker lists it once
 * per failover time (expiry cannot be seen faster than that anyway), and in
 * other rounds only while it holds fewer than its fair share, or when the
 * table's change counter (`LeaseTable.changes`, one small read) moved: every
 * release, finished shard and batch of new leases moves it, so a released
 * lease is still taken at the next heartbeat, not after a failover time.
 *
 * Expiry is observed, not stamped: a worker records when it last saw each
 * lease's counter change (on the Effect clock) and treats the lease as
 * expired when the counter stayed the same for the failover time. No clocks
 * are compared across machines, which is why KCL does it this way too; the
 * price is that a worker must watch a lease for one failover time before it
 * can take it.
 *
 * The backend is a `LeaseTable` (see `@eddy/core/LeaseTable`): memory
 * (`layerMemory`), DynamoDB or Redis.
 */

export { type Lease, LeaseStoreError, type LeaseTable, type LeaseUpdate, taken, updated } from "./LeaseTable"

/** Checkpoint sentinels, stored in `checkpoint` in place of a sequence number, as KCL does. */
export const TRIM_HORIZON: Position = { sequenceNumber: "TRIM_HORIZON", subSequenceNumber: 0 }
/** The checkpoint of a shard read from its newest records. */
export const LATEST: Position = { sequenceNumber: "LATEST", subSequenceNumber: 0 }
/** The shard is closed and fully processed: its children may start. */
export const SHARD_END: Position = { sequenceNumber: "SHARD_END", subSequenceNumber: 0 }

/** Whether a checkpoint says the shard was read to its end. */
export const isShardEnd = (p: Position): boolean => p.sequenceNumber === SHARD_END.sequenceNumber

/** A lease this worker holds. `concurrencyToken` names the tenure: a checkpoint from an earlier tenure is refused. */
export interface HeldLease extends Lease {
  readonly concurrencyToken: number
}

/** What a checkpoint needs to know about the lease it writes to. */
export type LeaseTenure = Pick<HeldLease, "leaseKey" | "concurrencyToken">

/** A lease for a discovered shard. */
export interface NewLease {
  readonly leaseKey: string
  readonly parentShardIds?: ReadonlyArray<string>
  /** Where processing starts; `TRIM_HORIZON` unless given. */
  readonly checkpoint?: Position
}

/** This worker no longer holds the lease (another worker took it): stop processing the shard, do not retry. */
export class LeaseLostError extends Data.TaggedError("LeaseLostError")<{
  readonly leaseKey: string
  readonly workerId: string
  readonly message: string
}> {}

/** One worker's view of the lease table. */
export interface LeaseWorker {
  readonly workerId: string
  /**
   * One heartbeat: renews held leases, then takes expired or unowned leases up
   * to this worker's fair share, stealing at most one from the most loaded
   * worker when none is free. Returns the leases held afterwards. On
   * `LeaseStoreError` the round still did what it could; `held` tells what is
   * held now (a lease that could not be renewed for `failoverTime` is dropped).
   */
  readonly round: Effect.Effect<ReadonlyArray<HeldLease>, LeaseStoreError>
  /** The leases held now, as of the last round or write. */
  readonly held: Effect.Effect<ReadonlyArray<HeldLease>>
  /**
   * Moves the checkpoint, conditional on this worker still owning the lease in
   * the same tenure. `SHARD_END` also gives the finished lease up.
   */
  readonly checkpoint: (lease: LeaseTenure, position: Position) => Effect.Effect<void, LeaseLostError | LeaseStoreError>
  /** Gives a lease up (clears `leaseOwner` conditionally) so another worker can take it at once. */
  readonly release: (leaseKey: string) => Effect.Effect<void, LeaseStoreError>
  /** Releases every held lease; for shutdown. */
  readonly releaseAll: Effect.Effect<void, LeaseStoreError>
  /** The next round lists the whole table: leases were created, or may have become free. */
  readonly rescan: Effect.Effect<void>
  /**
   * Notes a held lease's arrival clock (`Lease.processedUpTo`), written with
   * its next renewal or checkpoint: no write of its own. A clock behind the
   * stored one is ignored, so the stored clock only moves forward.
   */
  readonly advance: (leaseKey: string, processedUpTo: number) => Effect.Effect<void>
  /**
   * The leases this worker may take as of its last listing of the table
   * (about once per failover time, see above), its held ones as of its own
   * last write to them; `undefined` before the first listing. No read of its own.
   */
  readonly view: Effect.Effect<ReadonlyArray<Lease> | undefined>
}

/** Options of `LeaseWorker`. */
export interface WorkerOptions {
  /** The leases this worker may take, e.g. those of its streams; default all. Others are neither taken nor counted. */
  readonly accepts?: (leaseKey: string) => boolean
}

/** The lease service on a lease table: create, list and remove leases, and one `LeaseWorker` per worker. */
export class Leases extends Context.Tag("@eddy/core/Leases")<Leases, {
  /** A lease whose counter has not moved for this long is expired. */
  readonly failoverTime: Duration.Duration
  /** How often a worker should run `round`: a third of the failover time, as KCL renews. */
  readonly heartbeatInterval: Duration.Duration
  /** Creates leases that do not exist yet (parents before their children); existing leases are left alone. */
  readonly createLeases: (leases: ReadonlyArray<NewLease>) => Effect.Effect<void, LeaseStoreError>
  readonly list: Effect.Effect<ReadonlyArray<Lease>, LeaseStoreError>
  /**
   * Deletes a finished lease (at SHARD_END, no owner) unless it changed since
   * it was listed; `true` when deleted. For shards whose children have all
   * started, so that the table does not grow with every reshard.
   */
  readonly removeFinished: (lease: Lease) => Effect.Effect<boolean, LeaseStoreError>
  /** What the table is, for messages (`LeaseTable.name`). */
  readonly tableName: string
  /** A worker with its own view of the table. Worker ids must be unique among live workers. */
  readonly worker: (workerId: string, options?: WorkerOptions) => Effect.Effect<LeaseWorker>
}>() {}

/** A worker that releases its leases when its scope closes (graceful shutdown). */
export const worker = (workerId: string, options?: WorkerOptions): Effect.Effect<LeaseWorker, never, Leases | Scope.Scope> =>
  Effect.flatMap(Leases, (leases) => Effect.acquireRelease(leases.worker(workerId, options), (w) => Effect.ignoreLogged(w.releaseAll)))

/** A lease row for `lease`: no owner, counter 0. */
export const newLease = (lease: NewLease): Lease => ({
  leaseKey: lease.leaseKey,
  leaseOwner: undefined,
  leaseCounter: 0,
  checkpoint: lease.checkpoint ?? TRIM_HORIZON,
  ownerSwitchesSinceCheckpoint: 0,
  parentShardIds: lease.parentShardIds ?? []
})

/** Options of the lease service. */
export interface Options {
  /** Default 10 seconds, as KCL. */
  readonly failoverTime?: Duration.DurationInput
}

const samePosition = (a: Position, b: Position): boolean =>
  a.sequenceNumber === b.sequenceNumber && a.subSequenceNumber === b.subSequenceNumber

/** Orders new leases so that parents in the same batch are written before their children. */
const byGeneration = (leases: ReadonlyArray<NewLease>): ReadonlyArray<ReadonlyArray<NewLease>> => {
  const byKey = new Map(leases.map((l) => [l.leaseKey, l]))
  const depth = new Map<string, number>()
  const depthOf = (key: string, path: Set<string>): number => {
    const known = depth.get(key)
    if (known !== undefined) return known
    let d = 0
    for (const parent of byKey.get(key)?.parentShardIds ?? []) {
      if (byKey.has(parent) && !path.has(parent)) d = Math.max(d, depthOf(parent, new Set(path).add(key)) + 1)
    }
    depth.set(key, d)
    return d
  }
  const generations: Array<Array<NewLease>> = []
  for (const lease of byKey.values()) (generations[depthOf(lease.leaseKey, new Set())] ??= []).push(lease)
  return generations.filter((g) => g !== undefined)
}

const createLeases = (table: LeaseTable, leases: ReadonlyArray<NewLease>) =>
  Effect.forEach(
    byGeneration(leases),
    (generation) => Effect.forEach(generation, (l) => table.create(newLease(l)), { concurrency: 16 }),
  ).pipe(Effect.flatMap((created) => created.flat().some((ok) => ok) ? Effect.ignore(table.touch) : Effect.void))

// ---------------------------------------------------------------------------
// One worker: its private view of the table, and the steps of a round.
// ---------------------------------------------------------------------------

interface Held {
  /** The stored lease as of this worker's last write. */
  lease: Lease
  readonly token: number
  /** When this worker's last write to the lease landed (a renewal or a checkpoint). */
  renewedAt: number
  /** When its last checkpoint landed: a lease checkpointed less than a heartbeat ago needs no renewal. */
  checkpointedAt: number
  /** Serialises this worker's writes to the lease: each is conditional on the counter the previous one left. */
  readonly lock: Effect.Semaphore
  /** An arrival clock to write with the next write (`advance`), if ahead of the stored one. */
  clock?: number
}

interface WorkerState {
  readonly workerId: string
  readonly table: LeaseTable
  readonly failoverMs: number
  readonly heartbeatMs: number
  readonly accepts: (leaseKey: string) => boolean
  readonly held: Map<string, Held>
  /** When this worker last saw each lease's counter change. */
  readonly seen: Map<string, { counter: number; since: number }>
  /** One round (or `releaseAll`) at a time. */
  readonly roundLock: Effect.Semaphore
  /** When this worker last listed the table, the change counter then, and the fair share it computed. */
  lastListed: number
  /** When the first lease seen standing still would expire: the table is listed again then, to take it on time. */
  nextExpiry: number
  changes: number | undefined
  share: number
  /** List the table in the next round whatever the schedule. */
  rescan: boolean
  /** The accepted leases as of the last listing. */
  listed: ReadonlyArray<Lease> | undefined
}

const now = Effect.clockWith((clock) => clock.currentTimeMillis)

const snapshot = (h: Held): HeldLease => ({ ...h.lease, concurrencyToken: h.token })

const heldNow = (w: WorkerState) => Effect.sync(() => Array.from(w.held.values(), snapshot))

const lostError = (w: WorkerState, leaseKey: string) =>
  new LeaseLostError({
    leaseKey,
    workerId: w.workerId,
    message:
      `worker ${w.workerId} no longer holds lease ${leaseKey} (another worker took it, or it went unrenewed for the failover time): stop processing this shard`
  })

/**
 * A conditional write to a held lease. When the condition fails, the stored
 * lease tells whether an earlier write of ours landed although its response
 * was lost (a retry after a timeout): while the owner is still this worker,
 * only this worker's writes moved the counter, so adopt the stored lease and
 * write once more.
 */
const write = (w: WorkerState, h: Held, given: LeaseUpdate): Effect.Effect<boolean, LeaseStoreError> => {
  // The clock noted since the last write rides along; no write is made for it alone.
  const clock = h.clock
  const update: LeaseUpdate = clock !== undefined && clock > (h.lease.processedUpTo ?? Number.NEGATIVE_INFINITY)
    ? { ...given, processedUpTo: clock }
    : given
  const attempt = (base: Lease, adopted: boolean): Effect.Effect<boolean, LeaseStoreError> =>
    Effect.flatMap(w.table.update(base.leaseKey, w.workerId, base.leaseCounter, update), (ok) => {
      if (ok) return Effect.sync(() => (h.lease = updated(base, update), true))
      return Effect.flatMap(w.table.get(base.leaseKey), (stored) => {
        if (stored === undefined) return Effect.succeed(false)
        const expected = updated(base, update)
        if (
          stored.leaseCounter === expected.leaseCounter && stored.leaseOwner === expected.leaseOwner &&
          samePosition(stored.checkpoint, expected.checkpoint)
        ) return Effect.sync(() => (h.lease = stored, true))
        return stored.leaseOwner === w.workerId && !adopted ? attempt(stored, true) : Effect.succeed(false)
      })
    })
  return attempt(h.lease, false)
}

/** Runs `f` on the lease while it is still held in the same tenure, one write at a time. */
const withHeld = <A, E>(w: WorkerState, h: Held, f: Effect.Effect<A, E>, otherwise: Effect.Effect<A, E>) =>
  h.lock.withPermits(1)(Effect.suspend(() => w.held.get(h.lease.leaseKey) === h ? f : otherwise))

/** A lease checkpointed less than a heartbeat ago needs no renewal: its counter moved, and the checkpoint proved it held. */
const renew = (w: WorkerState, h: Held, errors: Array<LeaseStoreError>, t: number) =>
  t - h.checkpointedAt < w.heartbeatMs ? Effect.void : withHeld(
    w,
    h,
    Effect.flatMap(Effect.either(write(w, h, {})), (result) =>
      Effect.map(now, (t) => {
        if (result._tag === "Right") {
          if (result.right) h.renewedAt = t
          else w.held.delete(h.lease.leaseKey)
          return
        }
        errors.push(result.left)
        // Others may consider it expired by now: stop claiming it.
        if (t - h.renewedAt >= w.failoverMs) w.held.delete(h.lease.leaseKey)
      })),
    Effect.void
  )

/** Notes which leases' counters moved since the last listing (expiry is observed, not stamped). */
const observe = (w: WorkerState, byKey: ReadonlyMap<string, Lease>, t: number) => {
  for (const key of w.seen.keys()) if (!byKey.has(key)) w.seen.delete(key)
  for (const l of byKey.values()) {
    const before = w.seen.get(l.leaseKey)
    if (before === undefined || before.counter !== l.leaseCounter) w.seen.set(l.leaseKey, { counter: l.leaseCounter, since: t })
  }
}

/** Finished shards need no owner; children wait until every parent with a lease reached SHARD_END. */
const eligibleLeases = (leases: ReadonlyArray<Lease>, byKey: ReadonlyMap<string, Lease>) =>
  leases.filter((l) =>
    !isShardEnd(l.checkpoint) &&
    l.parentShardIds.every((p) => {
      const parent = byKey.get(p)
      return parent === undefined || isShardEnd(parent.checkpoint)
    })
  )

/** The leases to try to take this round: free or expired ones up to the fair share, else one stolen from the most loaded. */
const chooseLeases = (w: WorkerState, leases: ReadonlyArray<Lease>, t: number) =>
  Effect.gen(function*() {
    const byKey = new Map(leases.map((l) => [l.leaseKey, l]))
    observe(w, byKey, t)
    const eligible = eligibleLeases(leases, byKey)
    // A lease whose counter stood still since an earlier listing may be a dead worker's: look again as it expires.
    w.nextExpiry = Number.POSITIVE_INFINITY
    for (const l of eligible) {
      const since = w.seen.get(l.leaseKey)!.since
      if (l.leaseOwner !== undefined && l.leaseOwner !== w.workerId && since < t) w.nextExpiry = Math.min(w.nextExpiry, since + w.failoverMs)
    }
    // The share this worker is content with: below it, it lists the table every round.
    if (eligible.length === 0) return (w.share = 0, [])
    const available = eligible.filter((l) =>
      !w.held.has(l.leaseKey) && (l.leaseOwner === undefined || t - w.seen.get(l.leaseKey)!.since >= w.failoverMs)
    )
    const availableKeys = new Set(available.map((l) => l.leaseKey))
    const counts = new Map<string, number>([[w.workerId, 0]])
    for (const l of eligible) {
      if (l.leaseOwner !== undefined && !availableKeys.has(l.leaseKey)) counts.set(l.leaseOwner, (counts.get(l.leaseOwner) ?? 0) + 1)
    }
    const target = counts.size >= eligible.length ? 1 : Math.ceil(eligible.length / counts.size)
    const own = counts.get(w.workerId)!
    const needed = target - own
    w.share = target
    if (needed <= 0) return []
    if (available.length > 0) return Chunk.toReadonlyArray(Chunk.take(yield* Random.shuffle(available), needed))
    // Nothing free: steal one from the most loaded worker, as KCL does by default.
    let [victim, most] = [w.workerId, 0]
    for (const [owner, n] of counts) if (n > most) [victim, most] = [owner, n]
    if (most < target || (most === target && needed < 2)) return (w.share = own, [])
    const candidates = eligible.filter((l) => l.leaseOwner === victim)
    return Chunk.toReadonlyArray(Chunk.take(yield* Random.shuffle(candidates), 1))
  })

/**
 * Lists the table when taking may be needed: at first, while below the fair
 * share, when told, or once per failover time (half a heartbeat early, so
 * that two listings are never less than a failover time apart by a rounding).
 */
const listingDue = (w: WorkerState, t: number) =>
  w.rescan || w.held.size < w.share || t >= w.nextExpiry || t - w.lastListed >= w.failoverMs - w.heartbeatMs / 2

const takeLeases = (w: WorkerState, errors: Array<LeaseStoreError>, t: number) =>
  Effect.gen(function*() {
    const changes = yield* Effect.either(w.table.changes)
    if (changes._tag === "Left") return errors.push(changes.left)
    if (!listingDue(w, t) && changes.right === w.changes) return
    const listed = yield* Effect.either(w.table.list)
    if (listed._tag === "Left") return errors.push(listed.left)
    w.rescan = false
    w.lastListed = t
    w.changes = changes.right
    const accepted = listed.right.filter((l) => w.accepts(l.leaseKey))
    w.listed = accepted
    const chosen = yield* chooseLeases(w, accepted, t)
    yield* Effect.forEach(chosen, (observed) =>
      Effect.match(w.table.take(observed, w.workerId), {
        onFailure: (e) => void errors.push(e),
        onSuccess: (ok) => {
          if (!ok) return
          const lease = taken(observed, w.workerId)
          w.held.set(lease.leaseKey, {
            lease,
            token: lease.leaseCounter,
            renewedAt: t,
            checkpointedAt: Number.NEGATIVE_INFINITY,
            lock: Effect.unsafeMakeSemaphore(1)
          })
        }
      }), { concurrency: 16, discard: true })
  })

const round = (w: WorkerState) =>
  w.roundLock.withPermits(1)(
    Effect.gen(function*() {
      const errors: Array<LeaseStoreError> = []
      const before = new Set(w.held.keys())
      const t = yield* now
      yield* Effect.forEach(Array.from(w.held.values()), (h) => renew(w, h, errors, t), { concurrency: 16, discard: true })
      yield* takeLeases(w, errors, t)
      const gained = Array.from(w.held.keys()).filter((k) => !before.has(k))
      const dropped = Array.from(before).filter((k) => !w.held.has(k))
      if (gained.length > 0 || dropped.length > 0) {
        yield* Effect.logInfo("leases changed hands").pipe(
          Effect.annotateLogs({ workerId: w.workerId, taken: gained, lost: dropped, held: w.held.size })
        )
      }
      if (errors.length > 0) return yield* Effect.fail(errors[0]!)
      return yield* heldNow(w)
    })
  )

const checkpoint = (w: WorkerState, lease: LeaseTenure, position: Position) =>
  Effect.suspend(() => {
    const h = w.held.get(lease.leaseKey)
    if (h === undefined || h.token !== lease.concurrencyToken) return Effect.fail(lostError(w, lease.leaseKey))
    const finished = isShardEnd(position)
    return withHeld(
      w,
      h,
      Effect.flatMap(Effect.zip(write(w, h, { checkpoint: position, release: finished }), now), ([ok, t]) => {
        if (ok) h.renewedAt = h.checkpointedAt = t
        if (!ok || finished) w.held.delete(lease.leaseKey)
        if (!ok) return Effect.fail(lostError(w, lease.leaseKey))
        // Its children may be free to take now, by this worker or any other.
        if (finished) return Effect.zipRight(Effect.sync(() => void (w.rescan = true)), Effect.ignore(w.table.touch))
        return Effect.void
      }),
      Effect.fail(lostError(w, lease.leaseKey))
    )
  })

const release = (w: WorkerState, leaseKey: string) =>
  Effect.suspend(() => {
    const h = w.held.get(leaseKey)
    if (h === undefined) return Effect.void
    // Released or lost, the lease is no longer ours either way.
    return withHeld(
      w,
      h,
      Effect.flatMap(write(w, h, { release: true }), (ok) => {
        w.held.delete(leaseKey)
        return ok ? Effect.ignore(w.table.touch) : Effect.void
      }),
      Effect.void
    )
  })

// After any round in flight, so that it cannot take leases behind the release.
const releaseAll = (w: WorkerState) =>
  w.roundLock.withPermits(1)(Effect.flatMap(
    Effect.suspend(() => Effect.forEach(Array.from(w.held.keys()), (key) => Effect.either(release(w, key)), { concurrency: 16 })),
    (results) => {
      const failed = results.find((r) => r._tag === "Left")
      return failed === undefined ? Effect.void : Effect.fail(failed.left)
    }
  ))

const makeWorker = (table: LeaseTable, failoverMs: number, workerId: string, options: WorkerOptions): LeaseWorker => {
  const w: WorkerState = {
    workerId,
    table,
    failoverMs,
    heartbeatMs: heartbeatMillis(failoverMs),
    accepts: options.accepts ?? (() => true),
    held: new Map(),
    seen: new Map(),
    roundLock: Effect.unsafeMakeSemaphore(1),
    lastListed: Number.NEGATIVE_INFINITY,
    nextExpiry: Number.POSITIVE_INFINITY,
    changes: undefined,
    share: 0,
    rescan: false,
    listed: undefined
  }
  return {
    workerId,
    round: round(w),
    held: heldNow(w),
    checkpoint: (lease, position) => checkpoint(w, lease, position),
    release: (leaseKey) => release(w, leaseKey),
    releaseAll: releaseAll(w),
    rescan: Effect.sync(() => void (w.rescan = true)),
    advance: (leaseKey, processedUpTo) =>
      Effect.sync(() => {
        const h = w.held.get(leaseKey)
        if (h !== undefined && processedUpTo > (h.clock ?? Number.NEGATIVE_INFINITY)) h.clock = processedUpTo
      }),
    view: Effect.sync(() => {
      if (w.listed === undefined) return undefined
      // Held leases as this worker last wrote them; the rest as listed.
      return w.listed.map((l) => w.held.get(l.leaseKey)?.lease ?? l)
    })
  }
}

/** A third of the failover time, as KCL renews. */
const heartbeatMillis = (failoverMs: number) => Math.floor(failoverMs / 3)

const removeFinished = (table: LeaseTable, lease: Lease) =>
  isShardEnd(lease.checkpoint) && lease.leaseOwner === undefined ? table.remove(lease.leaseKey, lease.leaseCounter) : Effect.succeed(false)

/** Builds the lease coordination over a backend's conditional primitives. */
export const make = (table: LeaseTable, options: Options = {}): Effect.Effect<Leases["Type"]> =>
  Effect.sync(() => {
    const failoverTime = Duration.decode(options.failoverTime ?? Duration.seconds(10))
    const failoverMs = Duration.toMillis(failoverTime)
    return Leases.of({
      failoverTime,
      heartbeatInterval: Duration.millis(heartbeatMillis(failoverMs)),
      createLeases: (leases) => createLeases(table, leases),
      list: table.list,
      removeFinished: (lease) => removeFinished(table, lease),
      tableName: table.name,
      worker: (workerId, workerOptions = {}) => Effect.sync(() => makeWorker(table, failoverMs, workerId, workerOptions))
    })
  })

/**
 * A backend's `make`, `layer` and `layerConfig`: the lease service over the
 * table `tableOf` opens for the options (e.g. a DynamoDB table by its name).
 */
export const on = <O extends Options, R>(tableOf: (options: O) => Effect.Effect<LeaseTable, never, R>) => {
  const makeOn = (options: O): Effect.Effect<Leases["Type"], never, R> => Effect.flatMap(tableOf(options), (table) => make(table, options))
  return {
    make: makeOn,
    layer: (options: O): Layer.Layer<Leases, never, R> => Layer.effect(Leases, makeOn(options)),
    layerConfig: (config: Config.Config<O>): Layer.Layer<Leases, ConfigError.ConfigError, R> => Layer.effect(Leases, Effect.flatMap(config, makeOn))
  }
}

/** Leases on a `LeaseTableMemory` table, timed on the Effect clock (so `TestClock` drives expiry). */
export const layerMemory = (options?: Options): Layer.Layer<Leases> =>
  Layer.effect(Leases, Effect.flatMap(LeaseTableMemory.make, (table) => make(table, options)))
