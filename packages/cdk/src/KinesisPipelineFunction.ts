/**
 * eddy's Lambda driver: the bundled handler as a function behind one
 * Kinesis event-source mapping per stream. The mapping settings are the ones
 * `@eddy/runtime/Lambda` is written for: partial batch responses, bisection
 * on error, bounded retries and record age, an on-failure queue, and one
 * batch per shard at a time (the store's per-shard watermarks need order),
 * or up to ten with the "partitionKey" ordering (see `parallelizationFactor`).
 * Lambda is invoked only for the event types some pipeline takes.
 */
import { Duration, Stack } from "aws-cdk-lib"
import * as iam from "aws-cdk-lib/aws-iam"
import type * as kinesis from "aws-cdk-lib/aws-kinesis"
import * as lambda from "aws-cdk-lib/aws-lambda"
import * as logs from "aws-cdk-lib/aws-logs"
import * as sqs from "aws-cdk-lib/aws-sqs"
import { Construct } from "constructs"
import * as Actions from "./Actions"
import { allow } from "./internal/grant"
import { PipelineState } from "./PipelineState"

/** Props of `KinesisPipelineFunction`. */
export interface KinesisPipelineFunctionProps {
  /** The bundle with the handler, e.g. `Code.fromAsset("dist")` or `Code.fromCfnParameters()`. */
  readonly code: lambda.Code
  /** Default `lambda.handler` (the bundle `lambda.mjs`, export `handler`). */
  readonly handler?: string
  /** The streams the pipelines read, one mapping each. */
  readonly streams: ReadonlyArray<kinesis.IStream>
  /**
   * The event types the pipelines take (`pipelines.flatMap((p) => [...p.events])`):
   * the mappings' filter, so Lambda is not invoked for events no pipeline takes.
   * Empty means no filter.
   */
  readonly eventTypes: ReadonlyArray<string>
  /**
   * Set when producers write KPL aggregates: Lambda cannot look inside an
   * aggregate, so a filter would drop them all. Default false (eddy's
   * producer does not aggregate unless told to).
   */
  readonly aggregatedRecords?: boolean
  /** Tables and dead-letter queue; made here when absent. */
  readonly state?: PipelineState
  /** `EDDY_DEDUP_NAMESPACE`, default `default`. */
  readonly dedupNamespace?: string
  /** Default arm64. */
  readonly architecture?: lambda.Architecture
  readonly functionName?: string
  /** Default 1024 MB. */
  readonly memorySize?: number
  /** Default 60 seconds. */
  readonly timeout?: Duration
  /** Records per invocation, default 1000. */
  readonly batchSize?: number
  /** Default 1 second. */
  readonly maxBatchingWindow?: Duration
  /** Retries of a failing batch before it goes to the on-failure queue, default 10 (bounded, never -1). */
  readonly retryAttempts?: number
  /** Older records go to the on-failure queue, default 6 hours. */
  readonly maxRecordAge?: Duration
  /** Default TRIM_HORIZON. */
  readonly startingPosition?: lambda.StartingPosition
  /** Default one month. */
  readonly logRetention?: logs.RetentionDays
  /** More environment variables (e.g. `EDDY_METRICS_NAMESPACE`). */
  readonly environment?: Record<string, string>
  /**
   * Concurrent batches per shard, 1..10 (Lambda's ParallelizationFactor),
   * default 1. Above 1 Lambda keeps order per partition key only, so it needs
   * `ordering: "partitionKey"`.
   */
  readonly parallelizationFactor?: number
  /**
   * What the handler relies on the mapping to keep in order (`EDDY_ORDERING`,
   * see `@eddy/runtime/Lambda`): "shard" (default) or "partitionKey", where
   * the stores claim each record per item in a transaction (two write units
   * per item written, and a claim item per record).
   */
  readonly ordering?: "shard" | "partitionKey"
}

/**
 * A ParallelizationFactor the construct refuses: out of 1..10, or above 1
 * with the "shard" ordering, whose per-shard watermarks would skip (lose)
 * records of concurrent batches. Thrown at synth.
 */
export class ParallelizationFactorError extends Error {
  readonly _tag = "ParallelizationFactorError"
  constructor(readonly parallelizationFactor: number, readonly ordering: "shard" | "partitionKey") {
    super(
      !Number.isInteger(parallelizationFactor) || parallelizationFactor < 1 || parallelizationFactor > 10
        ? `parallelizationFactor must be an integer 1..10, got ${parallelizationFactor}`
        : `parallelizationFactor ${parallelizationFactor} runs concurrent batches of a shard, which the "shard" ordering's per-shard watermarks cannot keep exactly-once: ` +
          `set ordering: "partitionKey" (the stores then claim each record per item) or keep parallelizationFactor 1`
    )
    this.name = "ParallelizationFactorError"
  }
}

/** The FilterCriteria pattern that passes the records whose JSON `type` is one of `eventTypes`. */
export const eventTypeFilter = (eventTypes: ReadonlyArray<string>): Record<string, unknown> => ({
  data: { type: Array.from(new Set(eventTypes)).sort() }
})

/** The bundled handler as a Lambda function behind one Kinesis event-source mapping per stream. */
export class KinesisPipelineFunction extends Construct {
  readonly function: lambda.Function
  readonly role: iam.Role
  readonly logGroup: logs.LogGroup
  readonly state: PipelineState
  /** Batches Lambda gave up on after its retries: their shard and sequence range, to replay from the stream. */
  readonly onFailureQueue: sqs.Queue
  readonly mappings: ReadonlyArray<lambda.CfnEventSourceMapping>

  constructor(scope: Construct, id: string, props: KinesisPipelineFunctionProps) {
    super(scope, id)
    if (props.streams.length === 0) throw new Error("KinesisPipelineFunction needs at least one stream")
    const retryAttempts = props.retryAttempts ?? 10
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 10_000) {
      throw new Error(`retryAttempts must be 0..10000 (bounded), got ${retryAttempts}`)
    }
    const maxRecordAge = (props.maxRecordAge ?? Duration.hours(6)).toSeconds()
    if (maxRecordAge < 60 || maxRecordAge > 604_800) throw new Error(`maxRecordAge must be 60 seconds..7 days (bounded), got ${maxRecordAge} seconds`)
    const parallelizationFactor = props.parallelizationFactor ?? 1
    const ordering = props.ordering ?? "shard"
    if (!Number.isInteger(parallelizationFactor) || parallelizationFactor < 1 || parallelizationFactor > 10 || (parallelizationFactor > 1 && ordering !== "partitionKey")) {
      throw new ParallelizationFactorError(parallelizationFactor, ordering)
    }
    this.state = props.state ?? new PipelineState(this, "State")
    this.onFailureQueue = new sqs.Queue(this, "OnFailureQueue", {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true
    })
    this.logGroup = new logs.LogGroup(this, "LogGroup", { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH })
    // A role of its own with no managed policy: the basic execution policy would allow every log group.
    this.role = new iam.Role(this, "Role", { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com") })
    this.function = new lambda.Function(this, "Function", {
      ...(props.functionName === undefined ? {} : { functionName: props.functionName }),
      description: "eddy pipelines (Kinesis event-source mappings)",
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      handler: props.handler ?? "lambda.handler",
      code: props.code,
      role: this.role,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(60),
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: {
        ...this.state.environment(props.dedupNamespace ?? "default"),
        ...(ordering === "shard" ? {} : { EDDY_ORDERING: ordering }),
        ...props.environment
      }
    })

    const filter = props.aggregatedRecords === true || props.eventTypes.length === 0 ? undefined : eventTypeFilter(props.eventTypes)
    this.mappings = props.streams.map((stream, i) =>
      new lambda.CfnEventSourceMapping(this, `Mapping${i}`, {
        eventSourceArn: stream.streamArn,
        functionName: this.function.functionName,
        startingPosition: props.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON,
        batchSize: props.batchSize ?? 1000,
        maximumBatchingWindowInSeconds: (props.maxBatchingWindow ?? Duration.seconds(1)).toSeconds(),
        // One batch per shard at a time for the store's per-shard watermarks; more only where the stores claim each record.
        parallelizationFactor,
        functionResponseTypes: ["ReportBatchItemFailures"],
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: retryAttempts,
        maximumRecordAgeInSeconds: maxRecordAge,
        destinationConfig: { onFailure: { destination: this.onFailureQueue.queueArn } },
        ...(filter === undefined ? {} : { filterCriteria: { filters: [{ pattern: JSON.stringify(filter) }] } })
      })
    )
    // The role must exist with its grants before the mappings are created.
    for (const m of this.mappings) m.node.addDependency(this.role)

    const streamArns = props.streams.map((s) => s.streamArn)
    allow(this.role, Actions.writeLogs, [this.logGroup.logGroupArn])
    allow(this.role, Actions.eventSourceMappingRead, streamArns)
    allow(this.role, ordering === "partitionKey" ? Actions.storeClaims : Actions.store, [this.state.aggregateTable.tableArn])
    allow(this.role, Actions.deduper, [this.state.dedupTable.tableArn])
    allow(this.role, Actions.sendMessage, [this.state.deadLetterQueue.queueArn, this.onFailureQueue.queueArn])

    // CDK makes the function depend on the role and its policy; the role's GetAtt already orders the first
    // (cfn-lint W3005), so keep only the policy.
    const policy = this.role.node.findChild("DefaultPolicy").node.defaultChild as iam.CfnPolicy
    ;(this.function.node.defaultChild as lambda.CfnFunction).addOverride("DependsOn", [Stack.of(this).getLogicalId(policy)])
  }
}
