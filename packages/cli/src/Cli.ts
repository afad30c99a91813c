/**
 * The `eddy` command line: `describe`, `query`, `tables create`, `local up`,
 * `redrive` and `replay run|compare|switch`, built with `@effect/cli`. Region, credentials and endpoints
 * come from the AWS SDK's own environment (`AWS_REGION`,
 * `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL_SQS`);
 * every eddy option names the variable it falls back to.
 */
import { Args, Command, Options } from "@effect/cli"
import * as DeadLetter from "@eddy/core/DeadLetter"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import * as Query from "@eddy/core/Query"
import * as Store from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as TableAlias from "@eddy/dynamodb/TableAlias"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as DeadLetterSinks from "@eddy/runtime/DeadLetterSinks"
import * as PayloadHash from "@eddy/runtime/PayloadHash"
import { Config, Console, Data, Effect, Either, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import * as Compare from "./Compare"
import * as Describe from "./Describe"
import * as Sources from "./internal/sources"
import * as Time from "./internal/time"
import * as LocalUp from "./LocalUp"
import * as PipelinesModule from "./PipelinesModule"
import * as QueryTable from "./Query"
import * as Redrive from "./Redrive"
import * as Replay from "./Replay"
import * as TablesCreate from "./TablesCreate"

/** The version of @eddy/cli, read from its manifest (one level up from both src/ and dist/). */
export const VERSION: string = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version

/** A usage problem found after parsing (two options that exclude each other): exit code 2. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** Re-driving or a replay finished, but some records could not be processed now: exit code 1. */
export class IncompleteError extends Data.TaggedError("IncompleteError")<{ readonly message: string }> {}

/** `replay compare` found items that are not equal: exit code 1, after the report. */
export class TablesDifferError extends Data.TaggedError("TablesDifferError")<{ readonly message: string }> {}

// ---------------------------------------------------------------------------
// Options shared by commands
// ---------------------------------------------------------------------------

const fromEnv = (name: string, description: string, variable: string) =>
  Options.text(name).pipe(Options.withDescription(`${description} Falls back to $${variable}.`), Options.withFallbackConfig(Config.nonEmptyString(variable)))

const pipelinesOption = fromEnv("pipelines", "The module exporting the pipelines (`pipelines` or a default array): a .ts source or a built .js.", "EDDY_PIPELINES")
  .pipe(Options.withPseudoName("MODULE"))
const aggregateTable = fromEnv("aggregate-table", "The DynamoDB aggregate table.", "EDDY_AGGREGATE_TABLE").pipe(Options.withPseudoName("TABLE"))
const dedupTable = fromEnv("dedup-table", "The DynamoDB dedup table.", "EDDY_DEDUP_TABLE").pipe(Options.withPseudoName("TABLE"))
const dedupNamespace = fromEnv("dedup-namespace", "Prefix of the dedup claims: the namespace the pipelines' entries use.", "EDDY_DEDUP_NAMESPACE")
  .pipe(Options.withPseudoName("NAME"))
const json = Options.boolean("json").pipe(Options.withDescription("Print JSON instead of a table."))

const dynamoClient = DynamoClient.layerConfig()
const kinesisClient = Kinesis.layerConfig()

// ---------------------------------------------------------------------------
// describe
// ---------------------------------------------------------------------------

const optionalEnv = (name: string, description: string, variable: string) =>
  Options.text(name).pipe(
    Options.withDescription(`${description} Falls back to $${variable}.`),
    Options.withFallbackConfig(Config.option(Config.nonEmptyString(variable))),
    Options.withPseudoName("TABLE"),
    Options.optional,
    Options.map(Option.flatMap((v: string | Option.Option<string>) => (typeof v === "string" ? Option.some(v) : v)))
  )

const describe = Command.make("describe", {
  pipelines: pipelinesOption,
  aggregateTable: optionalEnv("aggregate-table", "The aggregate table to name as the store.", "EDDY_AGGREGATE_TABLE"),
  dedupTable: optionalEnv("dedup-table", "The dedup table to name as the store of event ids.", "EDDY_DEDUP_TABLE"),
  json
}, (o) =>
  Effect.gen(function*() {
    const pipelines = yield* PipelinesModule.load(o.pipelines)
    const d = Describe.describe(pipelines, { aggregate: Option.getOrUndefined(o.aggregateTable), dedup: Option.getOrUndefined(o.dedupTable) })
    yield* Console.log(o.json ? JSON.stringify(d, null, 2) : Describe.render(d).trimEnd())
  })).pipe(Command.withDescription("The pipelines of a module: their events, windows, monoids and stores."))

// ---------------------------------------------------------------------------
// query
// ---------------------------------------------------------------------------

/** `2026-11-21` (the day's start, or its end when `end`) or `2026-11-21T10:00[:00[.000]]Z`, in epoch milliseconds. */
export const parseTime: (text: string, end: boolean) => number | undefined = Time.parse

const time = (name: string, end: boolean) =>
  Options.text(name).pipe(
    Options.withPseudoName("TIME"),
    Options.mapEffect((text) => {
      const millis = parseTime(text, end)
      return millis === undefined
        ? Effect.fail(Sources.usage(`--${name}: ${JSON.stringify(text)} is not a UTC date or time; write 2026-11-21 or 2026-11-21T10:00Z`))
        : Effect.succeed(millis)
    }),
    Options.optional
  )

const query = Command.make("query", {
  pipelines: pipelinesOption,
  aggregateTable,
  pipeline: Args.text({ name: "pipeline" }).pipe(Args.withDescription("The pipeline's name (see `eddy describe`).")),
  key: Args.text({ name: "key" }).pipe(Args.withDescription("The key whose value to read.")),
  last: Options.integer("last").pipe(Options.withDescription("The last N buckets up to now (default: 24 hours, 7 days, 60 minutes)."), Options.optional),
  from: time("from", false).pipe(Options.withDescription("With --to: the buckets from TIME (2026-11-21 or 2026-11-21T10:00Z).")),
  to: time("to", true).pipe(Options.withDescription("With --from: the buckets up to TIME; a date means the end of that day.")),
  bucket: Options.text("bucket").pipe(Options.withDescription("A bucket id to read (2026-11-21, 2026-11-21T10Z); repeat for more."), Options.repeated),
  json
}, (o) =>
  Effect.gen(function*() {
    const range = yield* rangeOf(o)
    const pipelines = yield* PipelinesModule.load(o.pipelines)
    const pipeline = yield* PipelinesModule.named(pipelines, o.pipeline)
    const result = yield* Query.value(pipeline, o.key, range ?? Query.defaultRange(pipeline.window)).pipe(
      Effect.provide(DynamoStore.layer({ table: o.aggregateTable }).pipe(Layer.provide(dynamoClient)))
    )
    yield* Console.log(o.json ? JSON.stringify(Query.toJson(result), null, 2) : QueryTable.toTable(result).trimEnd())
  })).pipe(Command.withDescription("One pipeline's value for a key, per bucket and merged with its monoid."))

const rangeOf = (o: {
  readonly last: Option.Option<number>
  readonly from: Option.Option<number>
  readonly to: Option.Option<number>
  readonly bucket: ReadonlyArray<string>
}): Effect.Effect<Query.Range | undefined, UsageError> => {
  const given = [Option.isSome(o.last), Option.isSome(o.from) || Option.isSome(o.to), o.bucket.length > 0].filter(Boolean).length
  if (given > 1) return Effect.fail(new UsageError({ message: "give one of --last, --from/--to or --bucket" }))
  if (Option.isSome(o.last)) return Effect.succeed(Query.last(o.last.value))
  if (o.bucket.length > 0) return Effect.succeed(Query.buckets(o.bucket))
  if (Option.isSome(o.from) && Option.isSome(o.to)) return Effect.succeed(Query.between(o.from.value, o.to.value))
  if (Option.isSome(o.from) || Option.isSome(o.to)) return Effect.fail(new UsageError({ message: "--from and --to go together" }))
  return Effect.succeed(undefined)
}

// ---------------------------------------------------------------------------
// tables create
// ---------------------------------------------------------------------------

const leaseTables = Options.text("lease-table").pipe(
  Options.withDescription("A lease table, one per stream the service reads; repeat for more. Falls back to $EDDY_LEASE_TABLE."),
  Options.withPseudoName("TABLE"),
  Options.repeated,
  Options.mapEffect((tables) =>
    tables.length > 0
      ? Effect.succeed(tables)
      : Effect.map(Effect.orElseSucceed(Config.option(Config.nonEmptyString("EDDY_LEASE_TABLE")), Option.none), (t) => Option.toArray(t))
  )
)

const tablesCreate = Command.make("create", { aggregateTable, dedupTable, leaseTables }, (o) =>
  TablesCreate.ensure({ aggregate: o.aggregateTable, dedup: o.dedupTable, leases: o.leaseTables }).pipe(
    Effect.flatMap((created) => Console.log(TablesCreate.render(created).trimEnd())),
    Effect.provide(dynamoClient)
  )).pipe(Command.withDescription(
    "Creates the aggregate and dedup tables (TTL on expiresAt) and the lease tables (no TTL), unless they exist. Idempotent. Region and endpoint: $AWS_REGION, $AWS_ENDPOINT_URL_DYNAMODB."
  ))

const tables = Command.make("tables").pipe(Command.withDescription("eddy's DynamoDB tables."), Command.withSubcommands([tablesCreate]))

// ---------------------------------------------------------------------------
// local up
// ---------------------------------------------------------------------------

const localUp = Command.make("up", {
  kinesisPort: Options.integer("kinesis-port").pipe(Options.withDescription("The port of kinesalite."), Options.withDefault(4567)),
  dynamodbPort: Options.integer("dynamodb-port").pipe(Options.withDescription("The port of dynalite."), Options.withDefault(4568)),
  streams: Options.text("stream").pipe(
    Options.withDescription("A stream to create, with its lease table <stream>-leases; repeat for more (default: events)."),
    Options.repeated,
    Options.map((s) => (s.length === 0 ? ["events"] : s))
  ),
  shards: Options.integer("shards").pipe(Options.withDescription("Shards of each stream."), Options.withDefault(1)),
  aggregateTable: Options.text("aggregate-table").pipe(Options.withDescription("The aggregate table to create."), Options.withDefault("eddy-aggregates")),
  dedupTable: Options.text("dedup-table").pipe(Options.withDescription("The dedup table to create."), Options.withDefault("eddy-dedup"))
}, (o) =>
  Effect.scoped(Effect.gen(function*() {
    const env = yield* LocalUp.up(o)
    yield* Console.log(`kinesalite on ${env.kinesisEndpoint}, dynalite on ${env.dynamodbEndpoint}`)
    yield* Console.log(`streams: ${o.streams.map((s) => `${s} (${o.shards} shard${o.shards === 1 ? "" : "s"})`).join(", ")}`)
    yield* Console.log(TablesCreate.render(env.tables).trimEnd())
    yield* Console.log(`\nPaste into your shell:\n\n${LocalUp.environmentBlock(env)}\nRunning until Ctrl-C; state is in memory and goes with it.`)
    yield* Effect.addFinalizer(() => Console.log("stopped kinesalite and dynalite"))
    return yield* Effect.never
  }))).pipe(Command.withDescription("Starts kinesalite and dynalite on fixed ports, creates the streams and tables, prints the environment block, and runs until Ctrl-C."))

const local = Command.make("local").pipe(Command.withDescription("A local environment on emulators."), Command.withSubcommands([localUp]))

// ---------------------------------------------------------------------------
// redrive
// ---------------------------------------------------------------------------

const redrive = Command.make("redrive", {
  pipelines: pipelinesOption,
  aggregateTable,
  dedupTable,
  dedupNamespace,
  from: Options.text("from").pipe(
    Options.withDescription("Dead-letter entries to re-drive: a file of JSON lines (the stdout sink's), sqs:<queue URL> or kinesis:<stream>. Messages read from SQS are deleted once processed."),
    Options.withPseudoName("SOURCE"),
    Options.optional
  ),
  onFailure: Options.text("on-failure").pipe(
    Options.withDescription("Lambda on-failure records to reprocess: a file (a JSON array or JSON lines) or sqs:<queue URL>; their records are re-read from the stream."),
    Options.withPseudoName("SOURCE"),
    Options.optional
  ),
  poisoned: Options.file("poisoned").pipe(
    Options.withDescription("Where to write the entries that are poison still, as JSON lines (default: stdout, after the report)."),
    Options.optional
  ),
  json
}, (o) =>
  Effect.gen(function*() {
    const from = Option.map(o.from, (source) => ({ source, read: Sources.deadLetters })).pipe(
      Option.orElse(() => Option.map(o.onFailure, (source) => ({ source, read: Sources.onFailures })))
    )
    if (Option.isNone(from) || (Option.isSome(o.from) && Option.isSome(o.onFailure))) return yield* new UsageError({ message: "give one of --from or --on-failure" })
    const pipelines = yield* PipelinesModule.load(o.pipelines)
    const ledger = yield* DynamoDeduper.make({ table: o.dedupTable, namespace: o.dedupNamespace, retention: "30 days" })
    const state = Layer.merge(
      DynamoStore.layer({ table: o.aggregateTable }),
      DynamoDeduper.layer({ table: o.dedupTable, namespace: o.dedupNamespace })
    )
    const input = yield* from.value.read(from.value.source)
    const report = yield* Redrive.run(input.groups, { pipelines, ledger, runId: randomUUID() }).pipe(Effect.provide(state))
    if (report.failed === 0) yield* input.done
    const lines = report.poisoned.map((e) => DeadLetterSinks.encode(e))
    const summary = { read: input.groups.reduce((n, g) => n + g.records.length, 0), applied: report.applied, duplicate: report.duplicate, poisoned: lines.length, failed: report.failed }
    yield* Console.log(o.json ? JSON.stringify(summary) : `read ${summary.read}: applied ${summary.applied}, duplicate ${summary.duplicate}, poisoned again ${summary.poisoned}, failed ${summary.failed}`)
    yield* Option.match(o.poisoned, {
      onNone: () => (lines.length > 0 ? Console.log(lines.join("\n")) : Effect.void),
      onSome: (file) => Effect.sync(() => writeFileSync(file, lines.map((l) => l + "\n").join("")))
    })
    if (report.failed > 0) {
      return yield* new IncompleteError({ message: `${report.failed} record(s) could not be processed now (the store or dedup table did not answer); run the same command again` })
    }
  }).pipe(Effect.provide(Layer.merge(dynamoClient, kinesisClient)), Effect.provide(Sources.sqsClient))).pipe(Command.withDescription(
    "Re-drives dead letters or Lambda on-failure batches through the pipelines, exactly once, and reports what was applied, duplicate or poisoned again."
  ))

// ---------------------------------------------------------------------------
// replay run | compare | switch
// ---------------------------------------------------------------------------

const shadowTable = Options.text("shadow-table").pipe(
  Options.withDescription("The table the replay writes (created like the aggregate table if missing) and compare and switch read."),
  Options.withPseudoName("TABLE")
)

/** The replayed pipelines, all written to the shadow table whatever store they name. */
const chosen = (all: ReadonlyArray<Pipeline.Pipeline>, names: ReadonlyArray<string>) =>
  Effect.map(
    names.length === 0 ? Effect.succeed(all) : Effect.forEach(names, (name) => PipelinesModule.named(all, name)),
    (pipelines) => pipelines.map((p) => ({ ...p, store: Store.Store }))
  )

const pipelineNames = Options.text("pipeline").pipe(
  Options.withDescription("A pipeline to replay or compare; repeat for more (default: every pipeline of the module)."),
  Options.withPseudoName("NAME"),
  Options.repeated
)

const replayRun = Command.make("run", {
  pipelines: pipelinesOption,
  pipeline: pipelineNames,
  stream: fromEnv("stream", "The stream to replay (name or ARN).", "EDDY_STREAM_NAME").pipe(Options.withPseudoName("STREAM")),
  from: Options.text("from").pipe(
    Options.withDescription("Where to start: TRIM_HORIZON (default), a UTC time (2026-11-21T10:00Z: each shard from the first record that arrived then), or shardId:sequenceNumber (repeat, one per shard; their ancestors are passed over, other shards start at TRIM_HORIZON)."),
    Options.withPseudoName("POSITION"),
    Options.repeated,
    Options.mapEffect((texts) => Either.mapLeft(Replay.parseFrom(texts), Sources.usage))
  ),
  until: time("until", false).pipe(Options.withDescription("Leave out records that arrived after TIME (default: when the replay starts, the tip of every shard then).")),
  shadowTable,
  dedupTable,
  dedupNamespace: Options.text("dedup-namespace").pipe(
    Options.withDescription("Prefix of the replay's event-id claims (kept 30 days; default: the shadow table's name). Give the deployment that will keep the shadow table current the same one."),
    Options.withPseudoName("NAME"),
    Options.optional
  ),
  readLimit: Options.integer("read-limit").pipe(Options.withDescription("Records per GetRecords call."), Options.withDefault(10_000)),
  json
}, (o) =>
  Effect.gen(function*() {
    const live = yield* Effect.orElseSucceed(Config.option(Config.nonEmptyString("EDDY_AGGREGATE_TABLE")), Option.none)
    if (Option.contains(live, o.shadowTable)) return yield* new UsageError({ message: `--shadow-table ${o.shadowTable} is the live aggregate table ($EDDY_AGGREGATE_TABLE); replay into a new table` })
    const pipelines = yield* chosen(yield* PipelinesModule.load(o.pipelines), o.pipeline)
    yield* Tables.ensureTable(Tables.aggregateTable(o.shadowTable))
    const until = Option.getOrElse(o.until, () => Date.now())
    yield* Console.log(
      `replaying ${o.stream} (${Replay.describeFrom(o.from)}, until ${new Date(until).toISOString()}) through ${pipelines.map((p) => p.name).join(", ")} into ${o.shadowTable}`
    )
    const state = Layer.mergeAll(
      DynamoStore.layer({ table: o.shadowTable, followAlias: false }),
      DynamoDeduper.layer({ table: o.dedupTable, namespace: Option.getOrElse(o.dedupNamespace, () => o.shadowTable), retention: "30 days" }),
      DeadLetter.layerMemory
    )
    const processor = Processor.layer({ pipelines, payloadHash: PayloadHash.sha256Hex }).pipe(Layer.provide(state))
    const report = yield* Replay.run({
      stream: o.stream,
      from: o.from,
      until,
      read: { limit: o.readLimit },
      onProgress: (p) => Console.log(Replay.renderProgress(p)),
      checkpoints: yield* Replay.checkpointsIn(o.shadowTable, o.stream)
    }).pipe(Effect.provide(processor))
    yield* Console.log(o.json ? JSON.stringify({ ...report.totals, millis: report.millis }) : Replay.renderReport(report))
    for (const reason of report.deadLetterReasons) yield* Console.log(`dead-lettered: ${reason}`)
    if (report.totals.finished < report.totals.shards) {
      return yield* new IncompleteError({
        message: `${report.totals.shards - report.totals.finished} shard(s) stopped at records that could not be written now (${
          report.shards.flatMap((s) => (s.reason !== undefined ? [`${s.shardId}: ${s.reason}`] : [])).join("; ")
        }); run the same command again: it goes on where they stopped, exactly once`
      })
    }
  }).pipe(Effect.provide(Layer.merge(dynamoClient, kinesisClient)))).pipe(Command.withDescription(
    "Recomputes pipelines from the stream (within retention) into a shadow table, exactly once: a run killed and started again counts each event once."
  ))

const replayCompare = Command.make("compare", { pipelines: pipelinesOption, pipeline: pipelineNames, aggregateTable, shadowTable, json }, (o) =>
  Effect.gen(function*() {
    const pipelines = yield* chosen(yield* PipelinesModule.load(o.pipelines), o.pipeline)
    const comparisons = yield* Compare.compare(o.aggregateTable, o.shadowTable, pipelines)
    yield* Console.log(o.json ? JSON.stringify(comparisons, null, 2) : Compare.render(o.aggregateTable, o.shadowTable, comparisons).trimEnd())
    if (!Compare.same(comparisons)) {
      const n = comparisons.reduce((sum, c) => sum + c.different + c.missing + c.extra, 0)
      return yield* new TablesDifferError({ message: `${n} item(s) differ between ${o.aggregateTable} and ${o.shadowTable}; check the examples before you switch readers` })
    }
  }).pipe(Effect.provide(dynamoClient))).pipe(Command.withDescription(
    "Compares the pipelines' items of the live and the shadow table: equal, different, missing, only in the shadow, with examples. Exit code 1 when they differ."
  ))

const replaySwitch = Command.make("switch", {
  aggregateTable,
  to: Options.text("to").pipe(
    Options.withDescription("The table readers of --aggregate-table read from now on (the live table itself switches back). Without it: print where they read."),
    Options.withPseudoName("TABLE"),
    Options.optional
  )
}, (o) =>
  Effect.gen(function*() {
    if (Option.isNone(o.to)) return yield* Console.log(`readers of ${o.aggregateTable} read ${yield* TableAlias.resolve(o.aggregateTable)}`)
    const s = yield* TableAlias.switchTo(o.aggregateTable, o.to.value)
    yield* Console.log(`readers of ${s.table} now read ${s.to} (they read ${s.from} before); running services follow within 10 seconds`)
  }).pipe(Effect.provide(dynamoClient))).pipe(Command.withDescription(
    "Points the readers of the aggregate table (eddy query, the service's query API) at another table, atomically (a conditional write of an alias item in it)."
  ))

const replay = Command.make("replay").pipe(
  Command.withDescription("Recompute pipelines into a shadow table, compare it with the live one, switch readers to it."),
  Command.withSubcommands([replayRun, replayCompare, replaySwitch])
)

// ---------------------------------------------------------------------------
// eddy
// ---------------------------------------------------------------------------

/** The `eddy` command and its subcommands. */
export const eddy = Command.make("eddy").pipe(
  Command.withDescription("Typed Amazon Kinesis pipelines on Effect: describe, query, create tables, run locally, re-drive, replay."),
  Command.withSubcommands([describe, query, tables, local, redrive, replay])
)

/** The commands' names, for suggestions. */
export const commands: ReadonlyArray<string> = ["describe", "query", "tables", "local", "redrive", "replay"]

/** Runs `eddy` on an argument vector as `process.argv` holds it (node, the script, then the arguments); needs the platform's context. */
export const run = Command.run(eddy, { name: "eddy", version: VERSION })
