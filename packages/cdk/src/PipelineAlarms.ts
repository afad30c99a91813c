/**
 * The alarms an eddy deployment ships with, for either driver: records
 * waiting too long (iterator age), records that could not be processed (dead
 * letters, Lambda's on-failure queue), DynamoDB throttles and system errors
 * on the state tables, Lambda errors and throttles, a stream whose
 * records have stopped arriving (a pipeline gone silent), and, with the
 * service driver, a shard halted at a record it cannot process (the
 * service's `ShardsHalted` EMF metric). Each alarm notifies the optional SNS
 * topic.
 */
import { Duration } from "aws-cdk-lib"
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch"
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions"
import * as dynamodb from "aws-cdk-lib/aws-dynamodb"
import type * as kinesis from "aws-cdk-lib/aws-kinesis"
import type * as lambda from "aws-cdk-lib/aws-lambda"
import * as sns from "aws-cdk-lib/aws-sns"
import type * as sqs from "aws-cdk-lib/aws-sqs"
import { Construct } from "constructs"
import type { PipelineState } from "./PipelineState"

/** Props of `PipelineAlarms`. */
export interface PipelineAlarmsProps {
  readonly state: PipelineState
  /** The streams the pipelines read. */
  readonly streams: ReadonlyArray<kinesis.IStream>
  /** The Lambda driver, when deployed. */
  readonly function?: lambda.IFunction
  /** Its on-failure queue. */
  readonly onFailureQueue?: sqs.IQueue
  /** The service driver's lease tables, when deployed; with them, each stream also alarms on halted shards. */
  readonly leaseTables?: ReadonlyArray<dynamodb.Table>
  /** The service's `EDDY_METRICS_NAMESPACE`, where it writes `ShardsHalted`; default eddy, as the service's. */
  readonly metricsNamespace?: string
  /** Alarm when the oldest unread record is older than this, default 5 minutes. */
  readonly maxIteratorAge?: Duration
  /** Alarm when a stream took no record for this long, default 1 hour. */
  readonly silentAfter?: Duration
  /** Notified on alarm and on recovery; made here when `createTopic` is true. */
  readonly topic?: sns.ITopic
  readonly createTopic?: boolean
}

const FIVE_MINUTES = Duration.minutes(5)

/** An alarm on any occurrence: the metric is 1 or more for `periods` periods in a row; no data is no occurrence. */
const anyIn = (periods: number, metric: cloudwatch.IMetric): Omit<cloudwatch.AlarmProps, "alarmDescription"> => ({
  metric,
  threshold: 1,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  evaluationPeriods: periods,
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING
})

/** The service's halted shards of `stream`: the most any worker reports in a minute. */
const shardsHalted = (namespace: string, stream: kinesis.IStream): cloudwatch.IMetric =>
  new cloudwatch.Metric({ namespace, metricName: "ShardsHalted", dimensionsMap: { stream: stream.streamName }, statistic: "Maximum", period: Duration.minutes(1) })

/** The alarms of a pipeline deployment: iterator age, unprocessed records, state-table throttles and errors, Lambda errors, a silent stream, halted shards. */
export class PipelineAlarms extends Construct {
  readonly alarms: Array<cloudwatch.Alarm> = []
  readonly topic: sns.ITopic | undefined

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id)
    this.topic = props.topic ?? (props.createTopic === true ? new sns.Topic(this, "Topic") : undefined)
    const maxAge = props.maxIteratorAge ?? FIVE_MINUTES
    const silentAfter = props.silentAfter ?? Duration.hours(1)
    const olderThanMaxAge = (metric: cloudwatch.IMetric) => ({
      metric,
      threshold: maxAge.toMilliseconds(),
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING
    })

    const service = props.leaseTables !== undefined
    props.streams.forEach((stream, i) => {
      // The reader's lag, as Kinesis sees it: both drivers read with GetRecords.
      this.add(`IteratorAge${i}`, "records wait too long to be read", olderThanMaxAge(stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: "Maximum", period: FIVE_MINUTES })))
      // Gone silent: no record written to the stream for `silentAfter`, so no pipeline has anything to take.
      this.add(`Silent${i}`, "no records arrive on the stream", {
        metric: stream.metricIncomingRecords({ statistic: "Sum", period: silentAfter }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING
      })
      // Written every minute while a shard is halted and once when none is: no data is no halted shard.
      if (service) this.add(`ShardsHalted${i}`, "a shard is halted at a record it cannot process", anyIn(1, shardsHalted(props.metricsNamespace ?? "eddy", stream)))
    })

    this.add("DeadLetters", "records were dead-lettered", anyIn(1, props.state.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum", period: FIVE_MINUTES })))
    if (props.onFailureQueue !== undefined) {
      this.add("OnFailure", "Lambda gave up on batches", anyIn(1, props.onFailureQueue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum", period: FIVE_MINUTES })))
    }

    const tables: Array<[string, dynamodb.Table, Array<dynamodb.Operation>]> = [
      ["Aggregate", props.state.aggregateTable, [dynamodb.Operation.BATCH_GET_ITEM, dynamodb.Operation.GET_ITEM, dynamodb.Operation.UPDATE_ITEM]],
      ["Dedup", props.state.dedupTable, [dynamodb.Operation.PUT_ITEM]],
      ...(props.leaseTables ?? []).map((t, i): [string, dynamodb.Table, Array<dynamodb.Operation>] => [
        `Lease${i}`,
        t,
        [dynamodb.Operation.GET_ITEM, dynamodb.Operation.PUT_ITEM, dynamodb.Operation.SCAN, dynamodb.Operation.UPDATE_ITEM]
      ])
    ]
    for (const [name, table, operations] of tables) {
      this.add(`${name}Throttles`, `DynamoDB throttles requests to the ${name.toLowerCase()} table`, anyIn(3, table.metricThrottledRequestsForOperations({ operations, period: FIVE_MINUTES })))
      this.add(`${name}SystemErrors`, `DynamoDB system errors on the ${name.toLowerCase()} table`, anyIn(1, table.metricSystemErrorsForOperations({ operations, period: FIVE_MINUTES })))
    }

    if (props.function !== undefined) {
      this.add("LambdaErrors", "the function failed invocations", anyIn(3, props.function.metricErrors({ statistic: "Sum", period: FIVE_MINUTES })))
      this.add("LambdaThrottles", "the function was throttled", anyIn(3, props.function.metricThrottles({ statistic: "Sum", period: FIVE_MINUTES })))
      this.add("LambdaIteratorAge", "the mappings fall behind", olderThanMaxAge(props.function.metric("IteratorAge", { statistic: "Maximum", period: FIVE_MINUTES })))
    }
  }

  private add(id: string, description: string, props: Omit<cloudwatch.AlarmProps, "alarmDescription">): void {
    const alarm = new cloudwatch.Alarm(this, id, { ...props, alarmDescription: `eddy: ${description}` })
    if (this.topic !== undefined) {
      alarm.addAlarmAction(new actions.SnsAction(this.topic))
      alarm.addOkAction(new actions.SnsAction(this.topic))
    }
    this.alarms.push(alarm)
  }
}
