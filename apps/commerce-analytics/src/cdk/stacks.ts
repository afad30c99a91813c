/**
 * The commerce deployment as CDK stacks, built from `@eddy/cdk`:
 *
 * - `CommerceSync`: the two streams and the commerce-sync producer service.
 * - `CommerceAnalyticsLambda`: the pipelines on Lambda (`template.yaml`).
 * - `CommerceAnalyticsService`: the pipelines on ECS Fargate, one service per stream.
 * - `EddyTables`: the state tables alone (`packages/dynamodb/cloudformation.yaml`).
 *
 * Deploy one driver, not both: both would do the same work. Each stack takes
 * what it does not create (stream ARNs, VPC, subnets) as CloudFormation
 * parameters, so `cdk deploy --parameters` and `aws cloudformation deploy
 * --parameter-overrides` take the same names. With `artifacts: "parameters"`
 * the code and image are parameters too (the checked-in templates, which
 * need no CDK bootstrap); with `"assets"` CDK builds and uploads them.
 */
import { Actions, KinesisPipelineFunction, KinesisPipelineService, KinesisProducerService, PipelineAlarms, PipelineState } from "@eddy/cdk"
import { Annotations, CfnOutput, CfnParameter, Duration, Stack, type StackProps } from "aws-cdk-lib"
import * as ec2 from "aws-cdk-lib/aws-ec2"
import * as ecr from "aws-cdk-lib/aws-ecr"
import { Platform } from "aws-cdk-lib/aws-ecr-assets"
import * as ecs from "aws-cdk-lib/aws-ecs"
import * as iam from "aws-cdk-lib/aws-iam"
import * as kinesis from "aws-cdk-lib/aws-kinesis"
import * as lambda from "aws-cdk-lib/aws-lambda"
import type { Construct } from "constructs"
import { fileURLToPath } from "node:url"
import { pipelines } from "../pipelines"

/** The repository root, the Docker build context. */
export const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url))
/** The app's bundles (`pnpm --filter @eddy/commerce-analytics bundle`). */
export const distDir = fileURLToPath(new URL("../../dist", import.meta.url))

/** Where the code and images come from: parameters (plain CloudFormation) or CDK assets built here. */
export type Artifacts = "parameters" | "assets"

export interface CommerceStackProps extends StackProps {
  readonly artifacts: Artifacts
  /** With assets: where the bundles are, default `distDir`. */
  readonly bundleDir?: string
}

/** Every event type some commerce pipeline takes: the Lambda mappings' filter. */
export const eventTypes: ReadonlyArray<string> = pipelines.flatMap((p) => [...p.events])

/** The dedup namespace of state.ts. */
const NAMESPACE = "commerce"

const streamParameters = (stack: Stack) => {
  const arn = (id: string, what: string) =>
    new CfnParameter(stack, id, {
      type: "String",
      allowedPattern: "arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/.+",
      description: `ARN of the ${what} stream (an output of the CommerceSync stack)`
    })
  return [
    kinesis.Stream.fromStreamArn(stack, "OrdersStream", arn("OrdersStreamArn", "orders").valueAsString),
    kinesis.Stream.fromStreamArn(stack, "ProductStream", arn("ProductStreamArn", "products").valueAsString)
  ] as const
}

const alarmOutputs = (stack: Stack, alarms: PipelineAlarms) => {
  if (alarms.topic !== undefined) new CfnOutput(stack, "AlarmTopicArn", { description: "Subscribe to be told of alarms", value: alarms.topic.topicArn })
}

/** Outputs every stack with state has: what eddy-analytics and the operators read. */
const stateOutputs = (stack: Stack, state: PipelineState) => {
  new CfnOutput(stack, "AggregateTableName", { description: "EDDY_AGGREGATE_TABLE, which eddy-analytics reads", value: state.aggregateTable.tableName })
  new CfnOutput(stack, "DedupTableName", { description: "EDDY_DEDUP_TABLE", value: state.dedupTable.tableName })
  new CfnOutput(stack, "DeadLetterQueueUrl", { description: "Records that could not be processed, with their reasons", value: state.deadLetterQueue.queueUrl })
}

export class CommerceAnalyticsLambdaStack extends Stack {
  readonly pipelines: KinesisPipelineFunction

  constructor(scope: Construct, id: string, props: CommerceStackProps) {
    super(scope, id, { description: "eddy commerce analytics on AWS Lambda: state tables, the function and its Kinesis mappings, alarms", ...props })
    const streams = streamParameters(this)
    const architecture = new CfnParameter(this, "Architecture", {
      type: "String",
      allowedValues: ["arm64", "x86_64"],
      default: "arm64",
      description: "Processor of the function (the bundle runs on either)"
    })
    const code = props.artifacts === "assets"
      ? lambda.Code.fromAsset(props.bundleDir ?? distDir, { exclude: ["*", "!lambda.mjs", "!lambda.mjs.map", "!lambda.mjs.LEGAL.txt"] })
      : lambda.Code.fromCfnParameters({
        bucketNameParam: new CfnParameter(this, "LambdaCodeBucket", { type: "String", minLength: 3, description: "S3 bucket of the zipped dist/lambda.mjs" }),
        objectKeyParam: new CfnParameter(this, "LambdaCodeKey", { type: "String", minLength: 1, description: "S3 key of the zipped dist/lambda.mjs" })
      })
    this.pipelines = new KinesisPipelineFunction(this, "Pipelines", {
      code,
      streams,
      eventTypes,
      dedupNamespace: NAMESPACE,
      architecture: lambda.Architecture.custom(architecture.valueAsString)
    })
    const alarms = new PipelineAlarms(this, "Alarms", {
      state: this.pipelines.state,
      streams,
      function: this.pipelines.function,
      onFailureQueue: this.pipelines.onFailureQueue,
      createTopic: true
    })
    new CfnOutput(this, "FunctionName", { value: this.pipelines.function.functionName })
    new CfnOutput(this, "OnFailureQueueUrl", { description: "Batches Lambda gave up on: their shard and sequence range", value: this.pipelines.onFailureQueue.queueUrl })
    stateOutputs(this, this.pipelines.state)
    alarmOutputs(this, alarms)
  }
}

/** The VPC and subnets as parameters: the stacks run in a network the user already has. */
const networkParameters = (stack: Stack) => {
  const vpcId = new CfnParameter(stack, "VpcId", { type: "AWS::EC2::VPC::Id", description: "VPC of the tasks" })
  const subnets = new CfnParameter(stack, "Subnets", {
    type: "List<AWS::EC2::Subnet::Id>",
    description: "Subnets of the tasks, with a route to the AWS APIs (NAT gateway or VPC endpoints)"
  })
  const assignPublicIp = new CfnParameter(stack, "AssignPublicIp", {
    type: "String",
    allowedValues: ["ENABLED", "DISABLED"],
    default: "DISABLED",
    description: "ENABLED only in public subnets without NAT"
  })
  // The subnets are known only at deploy time; each service's network configuration is set from the parameter.
  const vpc = ec2.Vpc.fromVpcAttributes(stack, "Vpc", { vpcId: vpcId.valueAsString, availabilityZones: ["parameter"], privateSubnetIds: ["parameter"] })
  Annotations.of(vpc).acknowledgeWarning("@aws-cdk/aws-ec2:noSubnetRouteTableId", "the placeholder subnet is replaced by the Subnets parameter; no route table is read")
  const place = (service: ecs.FargateService) => {
    const cfn = service.node.defaultChild as ecs.CfnService
    cfn.addPropertyOverride("NetworkConfiguration.AwsvpcConfiguration.Subnets", subnets.valueAsList)
    cfn.addPropertyOverride("NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp", assignPublicIp.valueAsString)
  }
  return { vpc, place }
}

/** The apps' one Dockerfile; its ENTRY build argument picks the bundle the image runs. */
const dockerfile = "apps/commerce-analytics/Dockerfile"

const imageOf = (stack: Stack, props: CommerceStackProps, entry: "service" | "sync", defaultRepository: string): ecs.ContainerImage => {
  if (props.artifacts === "assets") {
    // The context is the repository; what the Dockerfile's .dockerignore leaves out, CDK must too.
    return ecs.ContainerImage.fromAsset(repositoryRoot, {
      file: dockerfile,
      buildArgs: { ENTRY: entry },
      platform: Platform.LINUX_ARM64,
      exclude: ["**/node_modules", "**/dist", ".git", "cdk.out"]
    })
  }
  const repository = new CfnParameter(stack, "ImageRepository", {
    type: "String",
    default: defaultRepository,
    description: `ECR repository of the image built from ${dockerfile} with ENTRY=${entry}`
  })
  const tag = new CfnParameter(stack, "ImageTag", { type: "String", description: "Tag of the image to run (a new tag rolls the service)" })
  return ecs.ContainerImage.fromEcrRepository(ecr.Repository.fromRepositoryName(stack, "Repository", repository.valueAsString), tag.valueAsString)
}

export class CommerceAnalyticsServiceStack extends Stack {
  readonly workers: ReadonlyArray<KinesisPipelineService>

  constructor(scope: Construct, id: string, props: CommerceStackProps) {
    super(scope, id, { description: "eddy commerce analytics on ECS Fargate: state tables, a worker service per stream with its lease table, alarms", ...props })
    const streams = streamParameters(this)
    const { vpc, place } = networkParameters(this)
    const image = imageOf(this, props, "service", "commerce-analytics")
    const state = new PipelineState(this, "State")
    // (CDK's classes do not satisfy its interfaces under exactOptionalPropertyTypes, hence the casts.)
    const cluster = new ecs.Cluster(this, "Cluster", { vpc }) as ecs.ICluster
    const shards = (name: string, what: string) =>
      new CfnParameter(this, name, { type: "Number", default: 4, minValue: 1, description: `Most tasks for the ${what} stream: its shard count (a task beyond one per shard holds no lease)` })
    const limits = [shards("OrdersShards", "orders"), shards("ProductShards", "products")]
    this.workers = streams.map((stream, i) =>
      new KinesisPipelineService(this, i === 0 ? "OrdersWorkers" : "ProductWorkers", {
        cluster,
        image,
        stream,
        maxTasks: limits[i]!.valueAsNumber,
        state,
        dedupNamespace: NAMESPACE
      })
    )
    for (const w of this.workers) place(w.service)
    const alarms = new PipelineAlarms(this, "Alarms", { state, streams, leaseTables: this.workers.map((w) => w.leaseTable), createTopic: true })
    stateOutputs(this, state)
    alarmOutputs(this, alarms)
  }
}

export class CommerceSyncStack extends Stack {
  readonly orders: kinesis.Stream
  readonly products: kinesis.Stream

  constructor(scope: Construct, id: string, props: CommerceStackProps) {
    super(scope, id, { description: "eddy commerce-sync: the orders and products streams and the producer service that writes them", ...props })
    const stream = (sid: string, suffix: string) =>
      new kinesis.Stream(this, sid, {
        streamName: `${this.stackName}-${suffix}`,
        streamMode: kinesis.StreamMode.ON_DEMAND,
        retentionPeriod: Duration.hours(24),
        encryption: kinesis.StreamEncryption.MANAGED
      })
    this.orders = stream("OrdersStream", "orders")
    this.products = stream("ProductStream", "products")
    const tasks = new CfnParameter(this, "ProducerTasks", { type: "Number", default: 1, minValue: 0, description: "Tasks of the commerce-sync API (0: the streams only)" })
    const { vpc, place } = networkParameters(this)
    const image = imageOf(this, props, "sync", "commerce-sync")
    // (CDK's classes do not satisfy its interfaces under exactOptionalPropertyTypes, hence the casts.)
    const cluster = new ecs.Cluster(this, "Cluster", { vpc }) as ecs.ICluster
    const producer = new KinesisProducerService(this, "Producer", {
      cluster,
      image,
      streams: [this.orders, this.products],
      environment: { KINESIS_ORDERS_STREAM: this.orders.streamName, KINESIS_PRODUCT_STREAM: this.products.streamName }
    })
    ;(producer.service.node.defaultChild as ecs.CfnService).addPropertyOverride("DesiredCount", tasks.valueAsNumber)
    place(producer.service)
    new CfnOutput(this, "OrdersStreamArn", { description: "OrdersStreamArn of the analytics stacks", value: this.orders.streamArn })
    new CfnOutput(this, "ProductStreamArn", { description: "ProductStreamArn of the analytics stacks", value: this.products.streamArn })
    new CfnOutput(this, "OrdersStreamName", { description: "KINESIS_ORDERS_STREAM", value: this.orders.streamName })
    new CfnOutput(this, "ProductStreamName", { description: "KINESIS_PRODUCT_STREAM", value: this.products.streamName })
    new CfnOutput(this, "ProducerSecurityGroup", { description: "Allow your load balancer into this group on port 8080", value: producer.securityGroup.securityGroupId })
  }
}

/** The state tables alone, for an application that deploys its own compute. */
export class EddyTablesStack extends Stack {
  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, { description: "eddy aggregate and dedup tables and dead-letter queue, with the policy a role needs to use them", ...props })
    const application = new CfnParameter(this, "Application", {
      type: "String",
      allowedPattern: "[a-z][a-z0-9-]{2,40}",
      description: "Prefix of the table and queue names, e.g. commerce-analytics"
    })
    const state = new PipelineState(this, "State", { namePrefix: application.valueAsString })
    // Item access for the store and deduper, and the reads `Tables.ensure` makes before it would create anything.
    const policy = new iam.ManagedPolicy(this, "AccessPolicy", {
      description: "What a Lambda or ECS task role needs for eddy's DynamoDB store, deduper and SQS dead letters",
      statements: [
        new iam.PolicyStatement({ actions: [...Actions.store, ...Actions.ensureDescribe], resources: [state.aggregateTable.tableArn] }),
        new iam.PolicyStatement({ actions: [...Actions.deduper, ...Actions.ensureDescribe], resources: [state.dedupTable.tableArn] }),
        new iam.PolicyStatement({ actions: [...Actions.sendMessage], resources: [state.deadLetterQueue.queueArn] })
      ]
    })
    stateOutputs(this, state)
    new CfnOutput(this, "AccessPolicyArn", { description: "Attach to the role that runs the pipelines", value: policy.managedPolicyArn })
  }
}
