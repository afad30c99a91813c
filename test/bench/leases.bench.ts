/**
 * Lease-table traffic of a fleet: 3 workers sharing 16 shards on the
 * DynamoDB lease table (dynalite, through the real SDK), with KCL's default
 * failover time of 10 seconds. Each worker runs its lease round on the
 * heartbeat and checkpoints every shard it holds at a fixed cadence, as the
 * service does for a busy shard: once per batch (a GetRecords every 200 ms),
 * or every 5 seconds (the service's default `EDDY_CHECKPOINT_INTERVAL`).
 * Requests are counted at the client, and read units as dynalite reports
 * them; the figures are per shard per minute, after the workers converged.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import * as Leases from "@eddy/core/Leases"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import { Dynalite } from "@eddy/local"
import { Duration, Effect, Fiber, Logger, LogLevel } from "effect"
import { metered, total } from "./dynamodbCapacity"
import { table } from "./measure"

const WORKERS = 3
const SHARDS = 16
const FAILOVER = Duration.seconds(10)
const MEASURE = Duration.seconds(Number(process.env.LEASES_BENCH_SECONDS ?? 30))

const shardKey = (i: number) => `orders:shardId-${String(i).padStart(12, "0")}`

/** One worker: a round every heartbeat, and a checkpoint of each held shard every `cadence`. */
const runWorker = (leases: Leases.Leases["Type"], workerId: string, cadence: Duration.Duration, sequence: { n: number }) =>
  Effect.gen(function*() {
    const worker = yield* leases.worker(workerId)
    const heartbeat = worker.round.pipe(Effect.ignore, Effect.zipRight(Effect.sleep(leases.heartbeatInterval)), Effect.forever)
    const checkpoints = Effect.gen(function*() {
      for (const lease of yield* worker.held) {
        yield* Effect.ignore(worker.checkpoint(lease, { sequenceNumber: String(++sequence.n), subSequenceNumber: 0 }))
      }
    }).pipe(Effect.zipRight(Effect.sleep(cadence)), Effect.forever)
    return yield* Effect.all([heartbeat, checkpoints], { concurrency: "unbounded", discard: true }).pipe(Effect.fork)
  })

const measure = (endpoint: string, cadence: Duration.Duration, tableName: string) =>
  Effect.gen(function*() {
    const { client, usage } = metered(new DynamoDBClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "x" } }))
    return yield* Effect.gen(function*() {
      yield* DynamoLeases.createTable(tableName)
      const leases = yield* DynamoLeases.make({ tableName, failoverTime: FAILOVER })
      yield* leases.createLeases(Array.from({ length: SHARDS }, (_, i) => ({ leaseKey: shardKey(i) })))
      const sequence = { n: 0 }
      const fibers = yield* Effect.forEach(Array.from({ length: WORKERS }, (_, i) => `worker-${i}`), (id) => runWorker(leases, id, cadence, sequence))
      // Converged: every shard owned, then measured from a clean count.
      yield* Effect.sleep(Duration.times(FAILOVER, 2))
      for (const m of [usage.requests, usage.units]) m.clear()
      yield* Effect.sleep(MEASURE)
      const requests = new Map(usage.requests)
      const units = new Map(usage.units)
      yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
      const owners = new Map<string, number>()
      for (const l of yield* leases.list) if (l.leaseOwner !== undefined) owners.set(l.leaseOwner, (owners.get(l.leaseOwner) ?? 0) + 1)
      const perShardMinute = (n: number) => n / SHARDS / (Duration.toMillis(MEASURE) / 60_000)
      const reads = ["GetItem", "Scan", "Query"]
      const writes = ["UpdateItem", "PutItem", "DeleteItem"]
      return {
        "checkpoint cadence": Duration.format(cadence),
        "reads/shard/min": perShardMinute(total(requests, reads)),
        "scans/shard/min": perShardMinute(total(requests, ["Scan"])),
        "read units/shard/min": perShardMinute(total(units, reads)),
        "writes/shard/min": perShardMinute(total(requests, writes)),
        "writes/shard/s": perShardMinute(total(requests, writes)) / 60,
        "leases per worker": Array.from(owners.values()).sort().join("/")
      }
    }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
  })

export const run = () =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const { endpoint } = yield* Dynalite.start()
    console.log(`${WORKERS} workers x ${SHARDS} shards, failover ${Duration.format(FAILOVER)}, measured over ${Duration.format(MEASURE)} after convergence\n`)
    const rows = [
      yield* measure(endpoint, Duration.millis(200), "leases-per-batch"),
      yield* measure(endpoint, Duration.seconds(5), "leases-interval")
    ]
    table(rows)
  })).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
