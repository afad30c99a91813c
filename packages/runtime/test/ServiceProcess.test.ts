/**
 * The service as ECS runs it: worker processes (`fixtures/worker.ts`, the
 * commerce pipelines on the DynamoDB store, deduper and lease table) against
 * Kinesis and DynamoDB emulators that live in this test process, so their
 * state survives the workers. Producers keep writing while workers are killed
 * with SIGKILL at random points or stopped with SIGTERM; at the end the stored
 * aggregates must equal the fold of the valid events, computed independently
 * of the pipelines, the processor and the store.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Leases from "@eddy/core/Leases"
import * as Store from "@eddy/core/Store"
import { Duration, Effect } from "effect"
import { expectedItems, mismatches } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

const failoverTime = Duration.millis(1500)
const heartbeat = Duration.millis(500)

/** The emulators, their tables and a stream of `shards`, with clients for the test to read and write them. */
const setup = <A, E, R>(shards: number, body: (endpoints: F.Endpoints) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const endpoints = yield* F.emulators
    return yield* Effect.gen(function*() {
      yield* F.ensureTables
      yield* F.createStream(F.streamName, shards)
      return yield* body(endpoints)
    }).pipe(Effect.provide(F.durable(endpoints, { failoverTime })))
  })

const owners = Effect.flatMap(Leases.Leases, (leases) => Effect.map(leases.list, (list) => list.map((l) => l.leaseOwner)))

/** A checkpoint written by `workerId` since `before` (a snapshot of the lease table): it is consuming. */
const checkpointedBy = (workerId: string, before: ReadonlyArray<Leases.Lease>) =>
  Effect.flatMap(Leases.Leases, (leases) =>
    Effect.map(leases.list, (list) =>
      list.some((l) => {
        const earlier = before.find((b) => b.leaseKey === l.leaseKey)?.checkpoint
        return l.leaseOwner === workerId && (earlier === undefined || earlier.sequenceNumber !== l.checkpoint.sequenceNumber)
      })))

const snapshot = Effect.flatMap(Leases.Leases, (leases) => leases.list)

/** Waits until every shard is consumed, then stops the worker(s) with SIGTERM: each must exit 0. */
const finish = (tips: F.Tips, workers: ReadonlyArray<F.WorkerProcess>) =>
  Effect.gen(function*() {
    yield* F.until(F.consumed(tips), "every shard is checkpointed at its tip", "90 seconds").pipe(
      Effect.tapError(() => Effect.sync(() => console.error(workers.map((w) => w.output().slice(-4000)).join("\n----\n"))))
    )
    for (const worker of workers) expect(yield* F.kill(worker, "SIGTERM")).toEqual({ code: 0, signal: null })
  })

const expectExact = (events: Parameters<typeof expectedItems>[0], context = "") =>
  Effect.gen(function*() {
    const store = yield* Store.Store
    const items = expectedItems(events)
    // Every pipeline has aggregates, over more than one hour.
    expect(new Set(items.map((i) => i.ref.pipeline)).size).toBe(5)
    expect(new Set(items.map((i) => i.ref.bucket)).size).toBeGreaterThan(2)
    expect(yield* mismatches(store, items), `aggregates that differ from the fold ${context}`).toEqual([])
  })

describe("Service worker processes", () => {
  it.scopedLive("a worker SIGKILLed at 10 random points while consuming, restarted each time, ends with exact aggregates", () =>
    setup(2, (endpoints) =>
      Effect.gen(function*() {
        const producer = yield* F.producer({ ordersPerWave: 5, pause: "250 millis" })
        const kills: Array<string> = []
        for (let k = 0; k < 10; k++) {
          const workerId = `worker-${k}`
          const before = yield* snapshot
          const worker = yield* F.spawnWorker(F.workerEnv(endpoints, { EDDY_WORKER_ID: workerId }))
          // Once it has taken over the dead worker's shards and checkpointed a batch, somewhere in the next 400 ms.
          yield* F.until(checkpointedBy(workerId, before), `${workerId} checkpoints a batch`).pipe(
            Effect.tapError(() => Effect.sync(() => console.error(worker.output().slice(-4000))))
          )
          const delay = Math.floor(Math.random() * 400)
          yield* Effect.sleep(delay)
          expect(yield* F.kill(worker, "SIGKILL")).toEqual({ code: null, signal: "SIGKILL" })
          kills.push(`${workerId} +${delay} ms`)
        }
        yield* producer.stop
        const last = yield* F.spawnWorker(F.workerEnv(endpoints, { EDDY_WORKER_ID: "worker-last" }))
        yield* finish(producer.tips, [last])
        expect((yield* owners).every((o) => o === undefined)).toBe(true)
        yield* expectExact(producer.events, `(kills: ${kills.join(", ")})`)
      })), { timeout: 300_000 }) // ten worker processes start one after another: slow on a loaded machine

  it.scopedLive("three workers share four shards; when one is killed the others take its shards and the aggregates stay exact", () =>
    setup(4, (endpoints) =>
      Effect.gen(function*() {
        const producer = yield* F.producer({ ordersPerWave: 5, pause: "200 millis" })
        const ids = ["worker-a", "worker-b", "worker-c"]
        const workers = yield* Effect.forEach(ids, (id) => F.spawnWorker(F.workerEnv(endpoints, { EDDY_WORKER_ID: id })))
        // Rebalanced: every worker holds a shard.
        yield* F.until(Effect.map(owners, (o) => ids.every((id) => o.includes(id))), "each worker holds a lease")
        const held = yield* owners
        const victim = ids.find((id) => held.filter((o) => o === id).length === 2) ?? ids[0]!
        yield* F.until(checkpointedBy(victim, []), `${victim} checkpoints`)
        expect(yield* F.kill(workers[ids.indexOf(victim)]!, "SIGKILL")).toEqual({ code: null, signal: "SIGKILL" })
        const killedAt = Date.now()

        // Its leases expire one failover time after their last renewal, which a survivor notices within a heartbeat and
        // takes at its next: about two failover times in all.
        const deadline = Duration.sum(Duration.times(failoverTime, 2), Duration.times(heartbeat, 2))
        yield* F.until(Effect.map(owners, (o) => o.every((owner) => owner !== undefined && owner !== victim)), "the survivors hold every shard", deadline)
        const tookMillis = Date.now() - killedAt
        console.log(`the survivors held ${victim}'s shards ${tookMillis} ms after it was killed (failover time ${Duration.format(failoverTime)})`)

        yield* producer.stop
        yield* finish(producer.tips, workers.filter((_, i) => ids[i] !== victim))
        yield* expectExact(producer.events)
      })))

  it.scopedLive("SIGTERM while consuming: exits 0 within the grace period with its leases released; a new worker finishes exactly", () =>
    setup(2, (endpoints) =>
      Effect.gen(function*() {
        const gracePeriod = Duration.seconds(5)
        const producer = yield* F.producer({ ordersPerWave: 10, pause: "100 millis" })
        const worker = yield* F.spawnWorker(F.workerEnv(endpoints, { EDDY_WORKER_ID: "worker-1", EDDY_GRACE_PERIOD: "5 seconds" }))
        yield* F.until(checkpointedBy("worker-1", []), "the worker checkpoints")
        const signalled = Date.now()
        expect(yield* F.kill(worker, "SIGTERM")).toEqual({ code: 0, signal: null })
        const tookMillis = Date.now() - signalled
        console.log(`SIGTERM to exit: ${tookMillis} ms (grace period ${Duration.format(gracePeriod)})`)
        expect(tookMillis).toBeLessThan(Duration.toMillis(gracePeriod))
        expect(worker.output()).toContain("\"message\":\"stopped\"")
        const leases = yield* snapshot
        expect(leases.map((l) => l.leaseOwner)).toEqual([undefined, undefined])

        yield* producer.stop
        const next = yield* F.spawnWorker(F.workerEnv(endpoints, { EDDY_WORKER_ID: "worker-2" }))
        yield* finish(producer.tips, [next])
        yield* expectExact(producer.events)
      })))
})
