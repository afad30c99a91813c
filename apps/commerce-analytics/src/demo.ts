/**
 * The whole system on one machine, no AWS account: `pnpm demo`.
 *
 * 1. Starts Kinesis and DynamoDB stand-ins in this process (kinesalite,
 *    dynalite) and creates the streams and two sets of tables.
 * 2. Starts the ECS service adapter on both streams (one worker per stream,
 *    as one task runs them), writing to the service's tables.
 * 3. Runs commerce-sync's load generator: a catalog of products, then orders
 *    moving through their lives, with invalid records mixed in, all through
 *    the real producers into the streams. The service consumes as it comes.
 * 4. Waits until the service has checkpointed every shard at its end.
 * 5. Feeds the same streams through the Lambda handler, invoked the way a
 *    Kinesis event-source mapping invokes it, into the Lambda's tables.
 * 6. Prints top products, revenue per hour, unique customers, status
 *    transitions, product updates and the dead-lettered records, and checks
 *    that both adapters computed identical aggregates, equal to the totals
 *    the generator recorded. Exits 0 only if they match.
 *
 * Progress goes to stderr, the report to stdout.
 */
import * as Generate from "@eddy/commerce-sync/Generate"
import { CommerceSync, layer as syncLayer } from "@eddy/commerce-sync/Sync"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Leases from "@eddy/core/Leases"
import * as Metrics from "@eddy/core/Metrics"
import { comparePosition, type Position } from "@eddy/core/SourceRecord"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import * as ConfigReport from "@eddy/runtime/ConfigReport"
import * as Emf from "@eddy/runtime/Emf"
import * as Lambda from "@eddy/runtime/Lambda"
import * as Log from "@eddy/runtime/Log"
import * as Main from "@eddy/runtime/Main"
import * as Service from "@eddy/runtime/Service"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { Command as CliCommand, HelpDoc, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Config, Data, Duration, Effect, Either, Layer, Logger, LogLevel, Metric, Option, Schedule } from "effect"
import { type Items, readAll } from "./internal/storedItems"
import * as Verify from "./internal/verify"
import { pipelines } from "./pipelines"
import * as Query from "./query"
import * as Render from "./render"
import * as State from "./state"

export interface Options {
  /** Orders created (default 2,000), each followed by its status changes: about 7,800 events in all. */
  readonly orders?: number
  /** Products created, variants included (default 200). */
  readonly products?: number
  /** Invalid records mixed into the orders stream (default 20). */
  readonly invalid?: number
  /** Same seed, same traffic (default 2026). */
  readonly seed?: number
  /** Where progress lines go; each call is the current state, a new phase or a tick. Default: nowhere. */
  readonly progress?: (line: string, phaseChanged: boolean) => void
}

const streams = { orders: { name: "commerce-orders", shards: 4 }, product: { name: "commerce-products", shards: 2 } } as const
const serviceTables = { aggregate: "service-aggregates", dedup: "service-dedup" } as const
const lambdaTables = { aggregate: "lambda-aggregates", dedup: "lambda-dedup" } as const
const leaseTable = (stream: string) => `service-leases-${stream}`
/** As template.yaml configures the event-source mappings. */
const mapping = { batchSize: 1_000, bisectBatchOnFunctionError: true, maximumRetryAttempts: 10 } as const

/** One shard's last sequence number per stream, as the producers' acknowledgements reported them. */
type Tips = Map<string, Map<string, string>>

export interface Report {
  readonly generated: Generate.Summary
  readonly tables: ReadonlyArray<Render.Table>
  /** As the service sent them; the Lambda's must be the same records. */
  readonly deadLetters: ReadonlyArray<DeadLetter.DeadLetterEntry>
  /** Items per pipeline, as both stores hold them when they match. */
  readonly items: ReadonlyMap<string, number>
  /** Every way the two stores and the generator's totals disagree; empty when all match. */
  readonly differences: ReadonlyArray<string>
  readonly seconds: { readonly generate: number; readonly service: number; readonly lambda: number; readonly total: number }
}

export class DemoError extends Data.TaggedError("DemoError")<{ readonly message: string; readonly cause?: unknown }> {}

const positionOf = (sequenceNumber: string): Position => ({ sequenceNumber, subSequenceNumber: 0 })

/** `CommerceSync` noting the last position it wrote to each shard, so the demo knows where the streams end. */
const recordingTips = (tips: Tips) =>
  Layer.effect(
    CommerceSync,
    Effect.map(CommerceSync, (sync) => {
      const note = (stream: string, shardId: string, sequenceNumber: string) => {
        let shards = tips.get(stream)
        if (shards === undefined) tips.set(stream, shards = new Map())
        const tip = shards.get(shardId)
        if (tip === undefined || comparePosition(positionOf(sequenceNumber), positionOf(tip)) > 0) shards.set(shardId, sequenceNumber)
      }
      return {
        ...sync,
        syncAll: (events) =>
          Effect.tap(sync.syncAll(events), (outcomes) =>
            Effect.sync(() => {
              for (const o of outcomes) if (Either.isRight(o)) note(o.right.stream, o.right.shardId, o.right.sequenceNumber)
            })),
        putRaw: (role, records) =>
          Effect.tap(sync.putRaw(role, records), (outcomes) =>
            Effect.sync(() => {
              for (const o of outcomes) if (Either.isRight(o)) note(sync.streams[role]!, o.right.shardId, o.right.sequenceNumber)
            }))
      }
    })
  )

/**
 * What the demo reads from its environment: only the adapters' logging
 * settings (everything else it starts itself). Checked whole before any work,
 * so a bad value is reported at once rather than when the Lambda phase starts.
 */
export const config = Config.all({ minimumLevel: Log.levelConfig, service: Log.serviceConfig("commerce-analytics-demo") })

/** The demo's configuration, every problem at once in plain words (see `ConfigReport`). */
export const loadConfig = ConfigReport.load(config, Main.logVariables)

const count = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

const thousands = (n: number) => Render.integer(n)

/** Runs the demo in a scope of its own (emulators, workers and clients stop when it ends); the report says whether everything matched. */
export const run = (options: Options = {}): Effect.Effect<Report, DemoError> =>
  Effect.gen(function*() {
    const began = Date.now()
    let phase = ""
    let status = () => ""
    const say = (line: string, phaseChanged = false) => options.progress?.(line, phaseChanged)
    const enter = (name: string, line: () => string) => {
      // The phase that ends, as it ends.
      if (phase !== "") say(`${phase}: ${status()}`)
      phase = name
      status = line
      say(`${phase}: ${status()}`, true)
    }
    yield* Effect.forkScoped(Effect.sync(() => say(`${phase}: ${status()}`)).pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.delay("1 second")))

    enter("starting", () => "local Kinesis and DynamoDB, streams and tables")
    const kinesisEndpoint = (yield* Kinesalite.start()).endpoint
    const dynamoEndpoint = (yield* Dynalite.start()).endpoint
    const kinesis = Layer.succeed(Kinesis.Kinesis, yield* Kinesis.make({ endpoint: kinesisEndpoint }))
    const dynamo = Layer.succeed(DynamoClient.DynamoClient, yield* DynamoClient.make({ endpoint: dynamoEndpoint }))
    yield* Effect.gen(function*() {
      const api = yield* Kinesis.Kinesis
      for (const s of Object.values(streams)) {
        yield* api.createStream({ StreamName: s.name, ShardCount: s.shards })
        yield* api.describeStreamSummary({ StreamName: s.name }).pipe(
          Effect.repeat({ until: (out) => out.StreamDescriptionSummary?.StreamStatus === "ACTIVE", schedule: Schedule.spaced("10 millis") })
        )
      }
    }).pipe(Effect.provide(kinesis))
    yield* Effect.all([
      Tables.ensure(serviceTables),
      Tables.ensure(lambdaTables),
      ...Object.values(streams).map((s) => DynamoLeases.createTable(leaseTable(s.name)))
    ], { discard: true }).pipe(
      // dynalite has no TTL operations; its tables live in memory for the demo's few seconds anyway.
      Logger.withMinimumLogLevel(LogLevel.Error),
      Effect.provide(dynamo)
    )

    // The service: a worker per stream, sharing the state tables, each with its stream's lease table.
    const serviceDeadLetters: Array<DeadLetter.DeadLetterEntry> = []
    const serviceState = Layer.merge(
      State.layer(serviceTables).pipe(Layer.provide(dynamo)),
      Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void serviceDeadLetters.push(...entries)) })
    )
    const worker = (stream: string) =>
      Service.layer({
        pipelines,
        layer: serviceState,
        kinesis,
        leases: DynamoLeases.layer({ tableName: leaseTable(stream) }).pipe(Layer.provide(dynamo)),
        streams: [{ name: stream }],
        workerId: `demo-${stream}`,
        initialPosition: "TRIM_HORIZON",
        port: 0,
        gracePeriod: Duration.seconds(5),
        readLimit: 10_000,
        // KCL's default: a shard read once a second yields chunks big enough to fold well.
        pollInterval: Duration.seconds(1),
        discoveryInterval: Duration.seconds(10)
      })
    // The processor's counters are process-wide: until the Lambda phase, the service's processors are the only ones counting.
    const serviceRecordsBefore = yield* count(Metrics.recordsIn)
    const serviceRecords = () => Effect.runSync(count(Metrics.recordsIn)) - serviceRecordsBefore
    yield* Layer.build(Layer.merge(worker(streams.orders.name), worker(streams.product.name)))

    // The generator, through the real producers; the service consumes as the records arrive.
    const tips: Tips = new Map()
    let sent: Generate.Progress = { total: 0, sent: 0, failed: 0, retried: 0, elapsedMillis: 0 }
    enter("generating", () => sent.total === 0 ? "planning the traffic" : `sent ${thousands(sent.sent)}/${thousands(sent.total)} records (${thousands(sent.failed)} failed) · service took ${thousands(serviceRecords())}`)
    const generateStarted = Date.now()
    const generated = yield* Generate.generate({
      orders: options.orders ?? 2_000,
      products: options.products ?? 200,
      invalid: options.invalid ?? 20,
      seed: options.seed ?? 2026,
      span: "2 days",
      onProgress: (p) => Effect.sync(() => (sent = p))
    }).pipe(
      Effect.provide(recordingTips(tips).pipe(Layer.provide(syncLayer({ streams: { orders: streams.orders.name, product: streams.product.name } })), Layer.provide(kinesis))),
      Effect.mapError((cause) => new DemoError({ message: `the generator failed: ${cause.message}`, cause }))
    )
    const generateSeconds = (Date.now() - generateStarted) / 1000
    if (generated.summary.failed > 0) {
      return yield* new DemoError({ message: `Kinesis did not take ${generated.summary.failed} of the generated records, so the totals would not match the streams` })
    }

    // The service is done when every shard that got records is checkpointed at its last one.
    const serviceStarted = Date.now()
    const shardsWithRecords = Array.from(tips.values()).reduce((n, shards) => n + shards.size, 0)
    let caughtUp = 0
    enter("service", () => `${caughtUp}/${shardsWithRecords} shards checkpointed at their end · ${thousands(serviceRecords())} records processed`)
    const checkpointed = Effect.gen(function*() {
      let done = 0
      for (const [stream, shards] of tips) {
        const leases = yield* DynamoLeases.make({ tableName: leaseTable(stream) })
        const checkpoints = new Map((yield* leases.list).map((l) => [l.leaseKey, l.checkpoint]))
        for (const [shardId, tip] of shards) {
          const at = checkpoints.get(`${stream}:${shardId}`)
          if (at !== undefined && (Leases.isShardEnd(at) || (/^\d+$/.test(at.sequenceNumber) && comparePosition(at, positionOf(tip)) >= 0))) done++
        }
      }
      caughtUp = done
      return done === shardsWithRecords
    }).pipe(Effect.provide(dynamo))
    yield* checkpointed.pipe(
      Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("200 millis") }),
      Effect.timeoutFail({ duration: "3 minutes", onTimeout: () => new DemoError({ message: `the service checkpointed only ${caughtUp} of ${shardsWithRecords} shards in 3 minutes` }) }),
      Effect.catchTag("LeaseStoreError", (e) => new DemoError({ message: `reading the lease tables: ${e.message}`, cause: e }))
    )
    const serviceSeconds = (Date.now() - serviceStarted) / 1000

    // The Lambda handler, behind a simulated event-source mapping per stream.
    const lambdaDeadLetters: Array<DeadLetter.DeadLetterEntry> = []
    let lambdaRecords = 0
    let invocations = 0
    const handler = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Lambda.handler({
          pipelines,
          layer: Layer.mergeAll(
            State.layer(lambdaTables).pipe(Layer.provide(dynamo)),
            Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void lambdaDeadLetters.push(...entries)) }),
            // The handler's metrics, counted for the progress line instead of printed.
            Layer.succeed(Emf.Writer, {
              write: (documents) =>
                Effect.sync(() => {
                  invocations++
                  for (const d of documents) for (const m of d.metrics) if (m.name === "Records") lambdaRecords += m.value
                })
            })
          )
        })
      ),
      (h) => Effect.promise(() => h.dispose())
    )
    const lambdaStarted = Date.now()
    enter("lambda", () => `${thousands(invocations)} invocations · ${thousands(lambdaRecords)} records processed`)
    for (const s of Object.values(streams)) {
      const stats = yield* EventSourceMapping.run(handler, { streamName: s.name, ...mapping }).pipe(
        Effect.provide(kinesis),
        Effect.mapError((cause) => new DemoError({ message: `the event-source mapping on ${s.name} failed: ${cause.message}`, cause }))
      )
      if (stats.onFailure.length > 0) return yield* new DemoError({ message: `Lambda gave up on ${stats.onFailure.length} batches of ${s.name}` })
      for (const shard of stats.shards) {
        const tip = tips.get(s.name)?.get(shard.shardId)
        if (tip !== shard.checkpoint) {
          return yield* new DemoError({ message: `the mapping's checkpoint of ${s.name}/${shard.shardId} is ${shard.checkpoint}, but the shard ends at ${tip}` })
        }
      }
    }
    const lambdaSeconds = (Date.now() - lambdaStarted) / 1000

    // Both stores, item by item, and the generator's totals.
    enter("comparing", () => "every item of both stores and the generator's totals")
    const read = (tables: State.Tables) =>
      readAll(tables.aggregate, pipelines).pipe(
        Effect.provide(Layer.provideMerge(State.layer(tables), dynamo)),
        Effect.mapError((cause) => new DemoError({ message: `reading ${tables.aggregate}: ${cause.message}`, cause }))
      )
    const service: Items = yield* read(serviceTables)
    const lambda: Items = yield* read(lambdaTables)
    const expected = Verify.expectedItems(generated.totals, generated.events)
    const sameDeadLetters = (a: ReadonlyArray<DeadLetter.DeadLetterEntry>, b: ReadonlyArray<DeadLetter.DeadLetterEntry>) => {
      const key = (e: DeadLetter.DeadLetterEntry) => `${e.shardId}/${e.sequenceNumber}/${e.subSequenceNumber}/${e.error}`
      const x = new Set(a.map(key))
      const y = new Set(b.map(key))
      return x.size === y.size && [...x].every((k) => y.has(k))
    }
    const differences = [
      ...Verify.compareStores({ name: "service", items: service }, { name: "Lambda", items: lambda }),
      ...Verify.compareWithTotals("service", service, expected),
      ...(serviceDeadLetters.length === generated.invalid.length
        ? []
        : [`the service dead-lettered ${serviceDeadLetters.length} records, the generator wrote ${generated.invalid.length} invalid ones`]),
      ...(sameDeadLetters(serviceDeadLetters, lambdaDeadLetters) ? [] : ["the service and the Lambda dead-lettered different records"])
    ]

    // The reports, from the service's store, over the whole generated traffic.
    const times = generated.events.map((e) => Date.parse(e.occurredAt))
    const range = Query.between(Math.min(...times), Math.max(...times))
    const productIds = generated.events.flatMap((e) => e.type === "product.created" ? [e.product.id] : [])
    const tables = yield* Effect.all([
      Effect.map(Query.topProductsReport(range, 10), Render.topProductsTable),
      Effect.map(Query.revenuePerHourReport(range), Render.revenuePerHourTable),
      Effect.map(Query.uniqueCustomersReport(range), Render.uniqueCustomersTable),
      Effect.map(Query.statusTransitionsReport(range), Render.statusTransitionsTable),
      Effect.map(Query.productUpdatesReport(productIds), (r) => Render.productUpdatesTable(r, 10))
    ]).pipe(
      Effect.provide(State.layer(serviceTables).pipe(Layer.provide(dynamo))),
      Effect.mapError((cause) => new DemoError({ message: `querying the service's store: ${cause.message}`, cause }))
    )
    say(`done: ${((Date.now() - began) / 1000).toFixed(1)} s`, true)
    return {
      generated: generated.summary,
      tables,
      deadLetters: serviceDeadLetters,
      items: Verify.countByPipeline(service),
      differences,
      seconds: { generate: generateSeconds, service: serviceSeconds, lambda: lambdaSeconds, total: (Date.now() - began) / 1000 }
    } satisfies Report
  }).pipe(
    Effect.mapError((e): DemoError => e instanceof DemoError ? e : new DemoError({ message: e instanceof Error ? e.message : String(e), cause: e })),
    Effect.scoped
  )

/** The dead letters as a table: where each record was, what was wrong with it. */
export const deadLettersTable = (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>): Render.Table => ({
  title: `Dead-lettered records (${entries.length})`,
  columns: [{ header: "shard" }, { header: "sequence number" }, { header: "error" }, { header: "reason" }],
  rows: entries.map((e) => [
    e.shardId,
    `...${e.sequenceNumber.slice(-8)}`,
    e.error,
    e.reason.length > 90 ? `${e.reason.slice(0, 87)}...` : e.reason
  ])
})

/** The report as text: the tables, the dead letters, and the verdict line (with the differences, when there are any). */
export const print = (report: Report): string => {
  const items = Array.from(report.items.values()).reduce((a, b) => a + b, 0)
  const perPipeline = Array.from(report.items, ([name, n]) => `${name} ${thousands(n)}`).join(", ")
  const verdict = report.differences.length === 0
    ? `MATCH: the service and the Lambda computed identical aggregates, ${thousands(items)} items (${perPipeline}), ` +
      `equal to the totals the generator recorded for its ${thousands(report.generated.events)} events; ` +
      `both dead-lettered the same ${report.deadLetters.length} invalid records.`
    : `MISMATCH: ${report.differences.length} differences between the service's store, the Lambda's store and the generator's totals:\n` +
      report.differences.slice(0, 30).map((d) => `  ${d}`).join("\n") +
      (report.differences.length > 30 ? `\n  ... and ${report.differences.length - 30} more` : "")
  const timing = `generated ${thousands(report.generated.events)} events and ${report.generated.invalid} invalid records in ` +
    `${report.seconds.generate.toFixed(1)} s; the service finished ${report.seconds.service.toFixed(1)} s later; ` +
    `the Lambda took ${report.seconds.lambda.toFixed(1)} s; ${report.seconds.total.toFixed(1)} s in all`
  return [...report.tables, deadLettersTable(report.deadLetters)].map(Render.render).join("\n") + `\n${timing}\n${verdict}\n`
}

const countOption = (name: string, description: string) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((n) => (n >= 0 ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name} takes a whole number >= 0, got ${n}`))))),
    Options.optional
  )

/** `pnpm demo [--orders N] [--products N] [--invalid N] [--seed N]`: the whole run, the report on stdout. */
export const command = CliCommand.make("demo", {
  orders: countOption("orders", "Orders to create, each followed by its status changes (default 2000)."),
  products: countOption("products", "Products to create, variants included (default 200)."),
  invalid: countOption("invalid", "Invalid records mixed into the orders stream (default 20)."),
  seed: countOption("seed", "The same seed gives the same traffic (default 2026).")
}, (o) =>
  Effect.gen(function*() {
    // The adapters log JSON lines to stdout, where the report goes: only errors, unless asked for more.
    process.env.LOG_LEVEL ??= "ERROR"
    // The AWS SDK's notice that its releases from 2027 need Node 22 is not news to a demo run on Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"
    yield* loadConfig
    const lines = Render.progressLines((text) => process.stderr.write(text), process.stderr.isTTY === true)
    const numbers = Object.fromEntries(Object.entries(o).flatMap(([name, n]) => (Option.isSome(n) ? [[name, n.value]] : [])))
    const report = yield* run({ ...numbers, progress: lines.update }).pipe(Logger.withMinimumLogLevel(LogLevel.Error), Effect.ensuring(Effect.sync(lines.end)))
    process.stdout.write(print(report))
    process.exitCode = report.differences.length === 0 ? 0 : 1
  })).pipe(CliCommand.withDescription(
    "Runs the commerce analytics end to end on local emulators: generates traffic, processes it with the service and the Lambda handler, and checks both against the generator's totals."
  ))

const isMain = process.argv[1] !== undefined && import.meta.filename === process.argv[1]

if (isMain) {
  const program = CliCommand.run(command, { name: "pnpm demo", version: "0.1.0" })(process.argv).pipe(
    Effect.catchAll((error) =>
      Effect.sync(() => {
        // @effect/cli has printed a usage error with the usage.
        if (!ValidationError.isValidationError(error)) process.stderr.write(`\ndemo failed: ${error.message}\n`)
        process.exitCode = ValidationError.isValidationError(error) ? 2 : 1
      })
    ),
    Effect.provide(NodeContext.layer)
  )
  NodeRuntime.runMain(program, { disableErrorReporting: true, teardown: (_, onExit) => onExit(typeof process.exitCode === "number" ? process.exitCode : 0) })
}
