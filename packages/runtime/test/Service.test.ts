/**
 * The service driver in this process against an in-process Kinesis
 * (kinesalite, through the real SDK client): checkpoints only after durable
 * writes, re-reads after failures, resharding parent-first, lease loss,
 * graceful shutdown, and the HTTP endpoint. The same commerce pipeline
 * definition as the Lambda tests; worker processes killed and restarted are
 * in `ServiceProcess.test.ts`.
 */
import { describe, expect, it } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Faults from "@eddy/testing/Faults"
import * as Leases from "@eddy/core/Leases"
import * as LeaseTableMemory from "@eddy/core/LeaseTableMemory"
import * as Processor from "@eddy/core/Processor"
import { comparePosition, type Position, positionId } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Consumer from "@eddy/kinesis/Consumer"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Shards from "@eddy/kinesis/Shards"
import { Kinesalite } from "@eddy/local"
import { Deferred, Duration, Effect, Fiber, Layer, Metric, MetricBoundaries, Option, Schedule, TestClock } from "effect"
import * as ShardWorker from "../src/internal/shardWorker"
import * as Prometheus from "../src/Prometheus"
import * as Service from "../src/Service"
import { encode, expectedItems, memoryServices, mismatches, pipelines } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

/** Every batch observed as it lands, on the quick reads of the fixtures. */
const base = {
  pipelines,
  streams: [{ name: F.streamName }],
  initialPosition: "TRIM_HORIZON" as const,
  // A write and a checkpoint after every batch, as these tests observe them; the cadences have tests of their own.
  flushRecords: 1,
  checkpointInterval: Duration.zero,
  checkpointRecords: 1,
  ...F.quickReads,
  rereadBackoff: Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(200)))
}

const localKinesis = Effect.map(Kinesalite.start(), ({ endpoint }) => Kinesis.layer({ endpoint }))

/** A stream of `shards` shards on a fresh kinesalite, holding `records`, with the client layer and the shards' tips. */
const streamWith = (shards: number, records: ReadonlyArray<F.Entry>) =>
  Effect.gen(function*() {
    const kinesis = yield* localKinesis
    yield* F.createStream(F.streamName, shards).pipe(Effect.provide(kinesis))
    const tips = yield* F.put(F.streamName, records).pipe(Effect.provide(kinesis))
    return { kinesis, tips }
  })

/** The services a worker runs on: `store` in place of the in-memory one. */
const storedIn = (store: Store.Store["Type"], services: ReturnType<typeof memoryServices>) =>
  Layer.merge(Layer.succeed(Store.Store, store), services.rest)

/** A fresh in-memory lease table, recorded by `journal` when given, and the lease service on it. */
const memoryLeases = (options: { readonly failoverTime: Duration.DurationInput; readonly journal?: ReturnType<typeof F.journal> }) =>
  Effect.gen(function*() {
    const raw = yield* LeaseTableMemory.make
    const table = options.journal?.table(raw) ?? raw
    const leases = yield* Leases.make(table, { failoverTime: options.failoverTime })
    return { table, leases, layer: Layer.succeed(Leases.Leases, leases) }
  })

/** A store whose `apply` calls chosen by `blocks` wait until `open`; `entered` completes when one is waiting. */
const gated = (inner: Store.Store["Type"], blocks: (call: number) => boolean) =>
  Effect.gen(function*() {
    const entered = yield* Deferred.make<void>()
    const gate = yield* Deferred.make<void>()
    let calls = 0
    const store = Store.Store.of({
      getMany: inner.getMany,
      apply: (writes) =>
        Effect.suspend(() =>
          blocks(calls++)
            ? Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(gate)), Effect.zipRight(inner.apply(writes)))
            : inner.apply(writes)
        )
    })
    return { store, entered, open: Deferred.succeed(gate, undefined), calls: () => calls }
  })

/** Takes the lease for `owner` behind the worker's back and keeps renewing it, as a live worker would. */
const steal = (table: Leases.LeaseTable, leaseKey: string, owner: string) =>
  Effect.gen(function*() {
    // Retried, in case the worker renews between the read and the take.
    const observed = yield* table.get(leaseKey).pipe(
      Effect.flatMap((l) => Effect.map(table.take(l!, owner), (ok) => (ok ? l : undefined))),
      Effect.repeat({ until: (l) => l !== undefined })
    )
    let counter = observed!.leaseCounter + 1
    yield* table.update(leaseKey, owner, counter, {}).pipe(
      Effect.tap((ok) => Effect.sync(() => ok && counter++)),
      Effect.zipRight(Effect.sleep("50 millis")),
      Effect.forever,
      Effect.forkScoped
    )
  })

const leaseOf = (table: Leases.LeaseTable, leaseKey: string) => Effect.map(table.get(leaseKey), (l) => l!)

/** The last position the store applied in one shard. */
const lastApplied = (events: ReadonlyArray<F.Event>, shardId: string): Position | undefined =>
  events.reduce<Position | undefined>(
    (max, e) => e._tag === "Applied" && e.shardId === shardId && (max === undefined || comparePosition(e.position, max) > 0) ? e.position : max,
    undefined
  )

const counter = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (s) => s.count)

const orderRecords = (count: number, offset = 0) =>
  sampleOrders(count, { offset, products: 20, customers: 50, intervalMillis: 60_000 }).map((e) => ({ PartitionKey: e.order.id, Data: encode(e) }))

/** Waits for another fiber's signal; fails loudly instead of hanging. */
const awaitSignal = (signal: Deferred.Deferred<void>, what: string) =>
  Deferred.await(signal).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`timed out waiting until ${what}`) }))

const shard0 = "shardId-000000000000"
/** The lease key of a shard of the test stream. */
const key = (shardId: string) => `${F.streamName}:${shardId}`
const lease0 = key(shard0)

/**
 * A worker on one shard of 100 records whose second write waits at a gate:
 * the first batch is written and checkpointed, the second is in hand.
 */
const holdingSecondBatch = (options: { readonly gracePeriod?: Duration.Duration }) =>
  Effect.gen(function*() {
    const { kinesis } = yield* streamWith(1, orderRecords(100))
    const services = memoryServices()
    const journal = F.journal()
    const gate = yield* gated(journal.store(services.store), (call) => call === 1)
    const { layer: leases, table } = yield* memoryLeases({ failoverTime: "10 seconds" })
    const worker = yield* F.startService({ ...base, ...options, workerId: "w1", layer: storedIn(gate.store, services), leases, kinesis })
    yield* awaitSignal(gate.entered, "a batch is in hand")
    return { worker, gate, journal, table, first: lastApplied(journal.events, shard0)! }
  })

/** A worker on one shard whose first write waits at a gate, and the shard's lease taken by "thief" meanwhile. */
const stolenInHand = (failoverTime: Duration.DurationInput) =>
  Effect.gen(function*() {
    const { kinesis } = yield* streamWith(1, orderRecords(60))
    const services = memoryServices()
    const gate = yield* gated(services.store, (call) => call === 0)
    const { layer: leases, table } = yield* memoryLeases({ failoverTime })
    const worker = yield* F.startService({ ...base, workerId: "w1", layer: storedIn(gate.store, services), leases, kinesis })
    yield* awaitSignal(gate.entered, "a batch is in hand")
    yield* steal(table, lease0, "thief")
    return { gate, table, worker }
  })

/** The worker stops the shard it lost, without a checkpoint: the thief holds it at TRIM_HORIZON, after the one write. */
const stopsUncheckpointed = ({ gate, table, worker }: Effect.Effect.Success<ReturnType<typeof stolenInHand>>) =>
  Effect.gen(function*() {
    yield* F.until(Effect.map(worker.service.status, (s) => s.shards.length === 0), "the worker stopped the shard")
    const lease = yield* leaseOf(table, lease0)
    expect(lease.leaseOwner).toBe("thief")
    expect(lease.checkpoint).toEqual(Leases.TRIM_HORIZON)
    expect(gate.calls()).toBe(1)
  })

describe("Service", () => {
  it.scopedLive("checkpoints only what was durably written, and re-reads a failed batch from its first failed record", () =>
    Effect.gen(function*() {
      const kinesis = yield* localKinesis
      yield* F.createStream(F.streamName, 2).pipe(Effect.provide(kinesis))
      const { events, records } = F.traffic(150)
      const tips = yield* F.put(F.streamName, records).pipe(Effect.provide(kinesis))
      const journal = F.journal()
      const services = memoryServices()
      // Whole calls failing, writes that landed but whose acknowledgement was lost, single writes rejected.
      const faults = Faults.store((call) =>
        call % 4 === 1
          ? { _tag: "Fail" }
          : call % 7 === 3
          ? { _tag: "FailAfter", done: 1 }
          : call % 5 === 2
          ? { _tag: "Reject", rejected: [0] }
          : undefined
      ).pipe(Layer.provide(Layer.succeed(Store.Store, journal.store(services.store))))
      const { layer: leases, leases: service } = yield* memoryLeases({ failoverTime: "10 seconds", journal })
      const rereads = yield* counter(Service.metrics.rereads)

      const worker = yield* F.startService({ ...base, workerId: "w1", layer: Layer.merge(faults, services.rest), leases, kinesis, retry: Schedule.recurs(0) })
      yield* F.until(Effect.provideService(F.consumed(tips), Leases.Leases, service), "every shard is checkpointed at its tip")
      yield* worker.stop

      expect(F.violations(journal.events)).toEqual([])
      expect(yield* counter(Service.metrics.rereads)).toBeGreaterThan(rereads)
      expect(yield* mismatches(services.store, expectedItems(events))).toEqual([])
      // Each poison record dead-lettered exactly once: none was read again after it was sent.
      const poison = records.filter((r) => new TextDecoder().decode(r.Data).startsWith("{ \"not\""))
      expect(services.deadLetters).toHaveLength(poison.length)
      expect(new Set(services.deadLetters.map((e) => positionId(e.shardId, e))).size).toBe(poison.length)
    }))

  it.scopedLive("follows a split and a merge made during consumption: children after their parents, every record once", () =>
    Effect.gen(function*() {
      yield* F.onEmulators((clients) => Effect.gen(function*() {
        yield* F.ensureTables
        yield* F.createStream(F.streamName, 2)
        const journal = F.journal()
        const store = journal.store(yield* DynamoStore.make({ table: F.tables.aggregate }))
        const leases = yield* Leases.make(journal.table(yield* DynamoLeases.makeTable(F.tables.leases)), { failoverTime: "10 seconds" })
        const layer = Layer.mergeAll(
          Layer.succeed(Store.Store, store),
          DynamoDeduper.layer({ table: F.tables.dedup, namespace: F.dedupNamespace }),
          DeadLetter.layerMemory
        ).pipe(Layer.provide(clients))
        const kinesis = yield* Kinesis.Kinesis
        const producer = yield* F.producer({ ordersPerWave: 15, pause: "50 millis" })
        const progressed = (shards: ReadonlyArray<string>) =>
          Effect.map(leases.list, (list) =>
            shards.every((s) => {
              const c = list.find((l) => l.leaseKey === key(s))?.checkpoint
              return c !== undefined && c.sequenceNumber !== Leases.TRIM_HORIZON.sequenceNumber
            }))

        const worker = yield* F.startService({
          ...base,
          workerId: "w1",
          layer,
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis: Layer.succeed(Kinesis.Kinesis, kinesis)
        })
        yield* F.until(progressed([shard0, "shardId-000000000001"]), "both shards have progressed")
        const [first, second] = Array.from((yield* Shards.list(F.streamName)).values())
        const middle = (first!.hashKeyRange.start + first!.hashKeyRange.end) / 2n
        yield* kinesis.splitShard({ StreamName: F.streamName, ShardToSplit: first!.shardId, NewStartingHashKey: middle.toString() })
        yield* F.awaitActive(F.streamName)
        const children = Array.from((yield* Shards.list(F.streamName)).values()).filter((s) => s.parentShardId === first!.shardId)
        expect(children).toHaveLength(2)
        yield* F.until(progressed(children.map((c) => c.shardId)), "the split's children have progressed")
        // The upper child and the second shard are adjacent: merge them while writes continue.
        const upper = children.find((c) => c.hashKeyRange.end + 1n === second!.hashKeyRange.start)!
        yield* kinesis.mergeShards({ StreamName: F.streamName, ShardToMerge: upper.shardId, AdjacentShardToMerge: second!.shardId })
        yield* F.awaitActive(F.streamName)
        const merged = Array.from((yield* Shards.list(F.streamName)).values()).find((s) => s.parents.length === 2)!
        yield* F.until(progressed([merged.shardId]), "the merged shard has progressed")
        yield* producer.stop
        yield* F.until(Effect.provideService(F.consumed(producer.tips), Leases.Leases, leases), "every shard is checkpointed at its tip")
        // The finished parents' leases are removed once their children started: the table does not grow with each reshard.
        const open = Array.from((yield* Shards.list(F.streamName)).values()).filter((s) => !s.closed).map((s) => key(s.shardId)).sort()
        yield* F.until(Effect.map(leases.list, (list) => list.map((l) => l.leaseKey).sort().join() === open.join()), "only the open shards have leases")
        yield* worker.stop

        const shards = yield* Shards.list(F.streamName)
        expect(shards.size).toBe(5)
        expect(open).toHaveLength(2)
        expect(F.violations(journal.events, new Map(Array.from(shards.values(), (s) => [s.shardId, s.parents])))).toEqual([])
        // Each parent was finished (checkpointed at SHARD_END) before its lease went.
        const ended = journal.events.filter((e) => e._tag === "Checkpoint" && Leases.isShardEnd(e.position)).map((e) => e.shardId).sort()
        expect(ended).toEqual([first!.shardId, second!.shardId, upper.shardId].sort())
        expect(yield* mismatches(store, expectedItems(producer.events))).toEqual([])
      }))
    }))

  it.scopedLive("stops a shard without checkpointing when its checkpoint is refused because another worker took the lease", () =>
    Effect.gen(function*() {
      const lost = yield* counter(Service.metrics.leasesLost)
      // Heartbeats ten seconds apart: the refused checkpoint is what tells the worker.
      const stolen = yield* stolenInHand("30 seconds")
      yield* stolen.gate.open
      yield* stopsUncheckpointed(stolen)
      expect(yield* counter(Service.metrics.leasesLost)).toBe(lost + 1)
    }))

  it.scopedLive("interrupts a shard mid-batch, without checkpointing, when a heartbeat finds its lease taken", () =>
    Effect.gen(function*() {
      // The first batch's write never returns: only the heartbeat can notice the loss.
      yield* stopsUncheckpointed(yield* stolenInHand("600 millis"))
    }))

  it.scopedLive("on shutdown stops fetching, finishes and checkpoints the batch in hand, and releases its leases", () =>
    Effect.gen(function*() {
      const { first, gate, journal, table, worker } = yield* holdingSecondBatch({})
      expect((yield* leaseOf(table, lease0)).checkpoint).toEqual(first)
      const stopping = yield* Effect.fork(worker.stop)
      yield* F.until(Effect.map(worker.service.status, (s) => s.phase === "stopping"), "the worker is stopping")
      yield* gate.open
      yield* Fiber.join(stopping)

      const lease = yield* leaseOf(table, lease0)
      const second = lastApplied(journal.events, shard0)!
      expect(comparePosition(second, first)).toBe(1)
      expect(lease.checkpoint).toEqual(second)
      expect(lease.leaseOwner).toBeUndefined()
      // The batch fetched ahead was not processed.
      expect(gate.calls()).toBe(2)
    }))

  it.scopedLive("when the grace period runs out, abandons the batch in hand without checkpointing it and still releases its leases", () =>
    Effect.gen(function*() {
      const { first, journal, table, worker } = yield* holdingSecondBatch({ gracePeriod: Duration.seconds(1) })
      yield* worker.stop

      const lease = yield* leaseOf(table, lease0)
      expect(lease.checkpoint).toEqual(first)
      expect(lease.leaseOwner).toBeUndefined()
      expect(lastApplied(journal.events, shard0)).toEqual(first)
    }))

  it.scopedLive("serves /healthz, /readyz (503 while starting and stopping) and /metrics in the Prometheus format", () =>
    Effect.gen(function*() {
      const { kinesis, tips } = yield* streamWith(1, orderRecords(30))
      const services = memoryServices()
      const gate = yield* gated(services.store, (call) => call === 2)
      // The first listing of the lease table waits, holding the worker in its starting phase.
      const listed = yield* Deferred.make<void>()
      const { leases, table } = yield* memoryLeases({ failoverTime: "10 seconds" })
      const slowLeases = Leases.Leases.of({ ...leases, list: Effect.zipRight(Deferred.await(listed), leases.list) })
      const port = yield* F.freePort
      const url = (path: string) => `http://127.0.0.1:${port}${path}`
      const get = (path: string) =>
        Effect.tryPromise(async () => {
          const response = await fetch(url(path))
          return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
        })

      const starting = yield* Effect.fork(F.startService({
        ...base,
        workerId: "w1",
        port,
        layer: storedIn(gate.store, services),
        leases: Layer.succeed(Leases.Leases, slowLeases),
        kinesis
      }))
      yield* F.until(Effect.map(Effect.either(get("/healthz")), (r) => r._tag === "Right"), "the endpoint is up")
      expect(yield* get("/healthz")).toMatchObject({ status: 200, body: JSON.stringify({ status: "ok" }) })
      const early = yield* get("/readyz")
      expect(early.status).toBe(503)
      expect(JSON.parse(early.body)).toMatchObject({ phase: "starting", ready: false, workerId: "w1" })

      yield* Deferred.succeed(listed, undefined)
      const worker = yield* Fiber.join(starting)
      yield* F.until(Effect.provideService(F.consumed(tips), Leases.Leases, leases), "the shard is consumed")
      const ready = yield* get("/readyz")
      expect(ready.status).toBe(200)
      expect(JSON.parse(ready.body)).toEqual({ workerId: "w1", phase: "running", ready: true, shards: [lease0] })

      const metrics = yield* get("/metrics")
      expect(metrics.status).toBe(200)
      expect(metrics.type).toBe(Prometheus.contentType)
      const lines = metrics.body.split("\n")
      expect(lines).toContain("# HELP eddy_records_in_total source records handed to the processor")
      expect(lines).toContain("# TYPE eddy_records_in_total counter")
      expect(lines.find((l) => l.startsWith("eddy_records_in_total "))).toMatch(/^eddy_records_in_total \d+$/)
      expect(lines).toContain("# TYPE eddy_kinesis_behind_latest_seconds gauge")
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^eddy_kinesis_behind_latest_seconds\\{stream="orders",shard="${shard0}"\\} [\\d.e-]+$`)))
      expect(lines).toContain("# TYPE eddy_batch_duration_seconds histogram")
      expect(lines).toContainEqual(expect.stringMatching(/^eddy_batch_duration_seconds_bucket\{le="\+Inf"\} \d+$/))
      expect(lines).toContain("# TYPE process_resident_memory_bytes gauge")
      expect(lines).toContain("# TYPE process_cpu_seconds_total counter")
      expect(lines).toContain("# TYPE nodejs_heap_size_used_bytes gauge")
      expect(lines).toContain("eddy_service_leases_held 1")
      // Every sample line belongs to a family announced by a TYPE line.
      const families = new Set(lines.filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]!))
      for (const line of lines.filter((l) => l !== "" && !l.startsWith("#"))) {
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \S+$/)
        const name = line.split(/[{ ]/)[0]!
        expect(families.has(name) || families.has(name.replace(/_(bucket|sum|count)$/, ""))).toBe(true)
        // Prometheus's conventions: counters end in _total, durations are in seconds.
        expect(name).not.toMatch(/_(ms|millis)(_|$)/)
      }

      // Shutdown while a batch is in hand: not ready, until the endpoint closes.
      yield* F.put(F.streamName, orderRecords(5, 30), tips).pipe(Effect.provide(kinesis))
      yield* awaitSignal(gate.entered, "a batch is in hand")
      const stopping = yield* Effect.fork(worker.stop)
      yield* F.until(Effect.map(worker.service.status, (s) => s.phase === "stopping"), "the worker is stopping")
      const late = yield* get("/readyz")
      expect(late.status).toBe(503)
      expect(JSON.parse(late.body)).toMatchObject({ phase: "stopping", ready: false })
      yield* gate.open
      yield* Fiber.join(stopping)
      expect((yield* Effect.either(get("/healthz")))._tag).toBe("Left")
      expect((yield* leaseOf(table, lease0)).leaseOwner).toBeUndefined()
    }))

  it.scopedLive("a worker with no shard left to take is ready: idle by design", () =>
    Effect.gen(function*() {
      const kinesis = yield* localKinesis
      yield* F.createStream(F.streamName, 1).pipe(Effect.provide(kinesis))
      const services = memoryServices()
      const { layer: leases } = yield* memoryLeases({ failoverTime: "10 seconds" })
      const start = (workerId: string) => F.startService({ ...base, workerId, layer: services.layer, leases, kinesis })
      const busy = yield* start("w1")
      yield* F.until(Effect.map(busy.service.status, (s) => s.shards.length === 1), "the first worker holds the shard")
      const idle = yield* start("w2")
      yield* F.until(Effect.map(idle.service.status, (s) => s.phase === "running"), "the second worker runs")
      expect(yield* idle.service.status).toEqual({ workerId: "w2", phase: "running", ready: true, shards: [] })
      expect(yield* busy.service.status).toEqual({ workerId: "w1", phase: "running", ready: true, shards: [lease0] })
      const address = idle.service.address
      const port = address._tag === "TcpAddress" ? address.port : 0
      const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/readyz`))
      expect(response.status).toBe(200)
    }))
})

describe("shard worker re-reads (on the TestClock)", () => {
  it.effect("re-reads a failing shard on the backoff schedule, then gives its lease up when the schedule is exhausted", () =>
    Effect.gen(function*() {
      // A shard of three records that the processor always fails.
      const data = encode(sampleOrders(1)[0]!)
      const reads: Array<string> = []
      const kinesis = {
        getShardIterator: (input: { readonly ShardIteratorType?: string | undefined }) =>
          Effect.sync(() => {
            reads.push(input.ShardIteratorType!)
            return { ShardIterator: "from-start" }
          }),
        getRecords: (input: { readonly ShardIterator?: string | undefined }) =>
          Effect.succeed(
            input.ShardIterator === "from-start"
              ? {
                NextShardIterator: "at-tip",
                MillisBehindLatest: 0,
                Records: [1, 2, 3].map((n) => ({ Data: data, PartitionKey: "k", SequenceNumber: `${n}`, ApproximateArrivalTimestamp: new Date(0) }))
              }
              : { NextShardIterator: "at-tip", MillisBehindLatest: 0, Records: [] }
          )
      } as unknown as Kinesis.KinesisApi
      let calls = 0
      const failing = Processor.Processor.of({
        pipelines,
        process: (records) =>
          Effect.sync(() => {
            calls++
            const outcomes = records.map((): Processor.Outcome => ({ _tag: "Failed", error: new Store.StoreUnavailableError({ message: "down" }) }))
            return { outcomes, counts: { applied: 0, duplicate: 0, deadLettered: 0, blocked: 0, failed: outcomes.length }, writes: [], retries: 0, deploymentFaults: [], conflicts: 0, late: [], written: [] }
          })
      })
      const leases = yield* Leases.make(yield* LeaseTableMemory.make, { failoverTime: "10 seconds" })
      yield* leases.createLeases([{ leaseKey: lease0 }])
      const worker = yield* leases.worker("w1")
      const [lease] = yield* worker.round
      const shard = yield* Consumer.leasedShard(F.streamName, worker, lease!, { pollInterval: Duration.millis(100) }).pipe(
        Effect.provideService(Kinesis.Kinesis, kinesis)
      )
      const fiber = yield* ShardWorker.run({
        shard,
        processor: failing,
        rereadBackoff: Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(2))),
        stop: yield* Deferred.make<void>(),
        flushRecords: 1
      }).pipe(Effect.fork)

      // Settles the fibers (the worker's and its prefetch) that the clock woke.
      const settle = Effect.repeatN(Effect.yieldNow(), 20)
      yield* settle
      expect(calls).toBe(1)
      // The re-reads back off 1 s, then 2 s: the calls after each step of the clock.
      const steps = [["999 millis", 1], ["1 millis", 2], ["1999 millis", 2], ["1 millis", 3]] as const
      for (const [step, after] of steps) {
        yield* TestClock.adjust(step)
        yield* settle
        expect(calls).toBe(after)
      }
      // Nothing was checkpointed, every read started over, and after the second re-read the lease was given up.
      expect(yield* Fiber.join(fiber)).toBe("gaveUp")
      expect(reads).toEqual(["TRIM_HORIZON", "TRIM_HORIZON", "TRIM_HORIZON"])
      const [stored] = yield* leases.list
      expect(stored!.checkpoint).toEqual(Leases.TRIM_HORIZON)
      expect(stored!.leaseOwner).toBeUndefined()
    }))
})

describe("Prometheus.render", () => {
  it.effect("renders counters, gauges, histograms, summaries and frequencies with HELP and TYPE, escaped labels", () =>
    Effect.gen(function*() {
      const requests = Metric.counter("test_requests", { description: "requests\nserved" })
      yield* Metric.incrementBy(requests.pipe(Metric.tagged("path", "/a\"b\\c")), 3)
      yield* Metric.incrementBy(requests.pipe(Metric.tagged("path", "/")), 2)
      yield* Metric.set(Metric.gauge("test.lag-ms"), 42)
      const latency = Metric.histogram("test_latency", MetricBoundaries.fromIterable([1, 10]), "latency")
      yield* Effect.forEach([0.5, 5, 50, 7], (v) => Metric.update(latency, v))
      const sizes = Metric.summary({ name: "test_sizes", maxAge: "1 hour", maxSize: 10, error: 0, quantiles: [0.5] })
      yield* Effect.forEach([1, 2, 3], (v) => Metric.update(sizes, v))
      const median = Option.getOrThrow((yield* Metric.value(sizes)).quantiles[0]![1])
      yield* Metric.update(Metric.frequency("test_kinds"), "order")
      const pairs = Metric.unsafeSnapshot().filter((p) => p.metricKey.name.startsWith("test"))
      expect(Prometheus.render(pairs)).toBe([
        "# TYPE test_kinds_total counter",
        "test_kinds_total{value=\"order\"} 1",
        "# TYPE test_lag_seconds gauge",
        "test_lag_seconds 0.042",
        "# HELP test_latency latency",
        "# TYPE test_latency histogram",
        "test_latency_bucket{le=\"1\"} 1",
        "test_latency_bucket{le=\"10\"} 3",
        "test_latency_bucket{le=\"+Inf\"} 4",
        "test_latency_sum 62.5",
        "test_latency_count 4",
        "# HELP test_requests_total requests\\nserved",
        "# TYPE test_requests_total counter",
        "test_requests_total{path=\"/\"} 2",
        "test_requests_total{path=\"/a\\\"b\\\\c\"} 3",
        "# TYPE test_sizes summary",
        `test_sizes{quantile="0.5"} ${median}`,
        "test_sizes_sum 6",
        "test_sizes_count 3",
        ""
      ].join("\n"))
    }))
})
