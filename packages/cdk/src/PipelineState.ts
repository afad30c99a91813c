/**
 * Where eddy pipelines keep their state, shared by both drivers: the
 * aggregate table (one item per pipeline, key and window bucket), the dedup
 * table (one item per claimed event id) and the dead-letter queue. Items
 * expire through TTL on `expiresAt`: windowed buckets after their retention,
 * claims after the dedup retention. The key schemas are those
 * `@eddy/dynamodb/Tables` creates.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib"
import * as dynamodb from "aws-cdk-lib/aws-dynamodb"
import * as sqs from "aws-cdk-lib/aws-sqs"
import { Construct } from "constructs"

/** Props of `PipelineState`. */
export interface PipelineStateProps {
  /** Prefix of the table and queue names; CloudFormation names them when absent. */
  readonly namePrefix?: string
  /** Kept when the stack is deleted (default), or destroyed with it. */
  readonly removalPolicy?: RemovalPolicy
  /** Point-in-time recovery of the aggregate table (default true). */
  readonly pointInTimeRecovery?: boolean
}

/** The TTL attribute of both tables. */
export const EXPIRES_AT = "expiresAt"

/** Where a pipeline deployment keeps its state: the aggregate and dedup tables and the dead-letter queue. */
export class PipelineState extends Construct {
  readonly aggregateTable: dynamodb.Table
  readonly dedupTable: dynamodb.Table
  readonly deadLetterQueue: sqs.Queue

  constructor(scope: Construct, id: string, props: PipelineStateProps = {}) {
    super(scope, id)
    const name = (suffix: string) => (props.namePrefix === undefined ? {} : { tableName: `${props.namePrefix}-${suffix}` })
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN
    this.aggregateTable = new dynamodb.Table(this, "AggregateTable", {
      ...name("aggregates"),
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "sk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: EXPIRES_AT,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      removalPolicy
    })
    this.dedupTable = new dynamodb.Table(this, "DedupTable", {
      ...name("dedup"),
      partitionKey: { name: "id", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: EXPIRES_AT,
      removalPolicy
    })
    // Records that can never be processed, each with its reason and payload (EDDY_DEAD_LETTER=sqs:<url>).
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      ...(props.namePrefix === undefined ? {} : { queueName: `${props.namePrefix}-dead-letters` }),
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy
    })
  }

  /** The environment both entries read for their state (see the README's Configuration). */
  environment(namespace: string): Record<string, string> {
    return {
      EDDY_AGGREGATE_TABLE: this.aggregateTable.tableName,
      EDDY_DEDUP_TABLE: this.dedupTable.tableName,
      EDDY_DEDUP_NAMESPACE: namespace,
      EDDY_DEAD_LETTER: `sqs:${this.deadLetterQueue.queueUrl}`
    }
  }
}
