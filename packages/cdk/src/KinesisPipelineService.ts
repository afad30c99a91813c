/**
 * eddy's service driver on ECS Fargate: tasks running the pipelines as
 * workers of one stream, sharing its shards through a lease table of their
 * own (lease keys are shard ids). A stopping task drains, checkpoints and
 * releases its leases within `EDDY_GRACE_PERIOD`, so the container's stop
 * timeout is set above it. Tasks scale on CPU between `minTasks` and the
 * stream's shard count: a task beyond one per shard would hold no lease.
 *
 * Sizing: a worker runs on one Node thread, so a task needs one core at
 * most, and a shard delivers at most 2 MB/s to all its readers. The defaults
 * (0.5 vCPU, 1 GiB) leave V8's default heap limit room below the task's
 * memory. They are a starting point, not a measurement: run the service
 * benchmark (`pnpm bench service`, which reports records/s and the resident
 * set of one worker) with your pipelines and set `cpu` and `memoryLimitMiB`
 * from it.
 */
import { Duration, Stack } from "aws-cdk-lib"
import * as dynamodb from "aws-cdk-lib/aws-dynamodb"
import * as ec2 from "aws-cdk-lib/aws-ec2"
import * as ecs from "aws-cdk-lib/aws-ecs"
import type * as kinesis from "aws-cdk-lib/aws-kinesis"
import * as logs from "aws-cdk-lib/aws-logs"
import { Construct } from "constructs"
import * as Actions from "./Actions"
import * as Fargate from "./internal/fargate"
import { allow } from "./internal/grant"
import type { PipelineState } from "./PipelineState"

export interface KinesisPipelineServiceProps {
  readonly cluster: ecs.ICluster
  /** The service image, e.g. `ContainerImage.fromAsset(...)` or `fromEcrRepository(...)`. */
  readonly image: ecs.ContainerImage
  readonly stream: kinesis.IStream
  /** The stream's shard count: the most tasks that can hold a lease. */
  readonly maxTasks: number
  /** Default 1. */
  readonly minTasks?: number
  readonly state: PipelineState
  /** `EDDY_DEDUP_NAMESPACE`, default `default`. */
  readonly dedupNamespace?: string
  /** Task CPU units, default 512 (see the sizing note above). */
  readonly cpu?: number
  /** Task memory, default 1024 MiB. */
  readonly memoryLimitMiB?: number
  /** Default ARM64 (the image must be built for it). */
  readonly cpuArchitecture?: ecs.CpuArchitecture
  /** `EDDY_GRACE_PERIOD`, default 25 seconds; the stop timeout is 5 seconds more. */
  readonly gracePeriod?: Duration
  /** `PORT`, default 8080: `/healthz`, `/readyz`, `/metrics`. */
  readonly port?: number
  /** Default TRIM_HORIZON: where a shard without a checkpoint starts. */
  readonly initialPosition?: "TRIM_HORIZON" | "LATEST"
  /** Target CPU utilisation for scaling, default 60%. */
  readonly targetCpuUtilization?: number
  readonly vpcSubnets?: ec2.SubnetSelection
  /** Default false: tasks in private subnets with a NAT gateway or VPC endpoints. */
  readonly assignPublicIp?: boolean
  /** Default one month. */
  readonly logRetention?: logs.RetentionDays
  readonly environment?: Record<string, string>
}

export class KinesisPipelineService extends Construct {
  readonly service: ecs.FargateService
  readonly taskDefinition: ecs.FargateTaskDefinition
  readonly container: ecs.ContainerDefinition
  readonly leaseTable: dynamodb.Table
  readonly logGroup: logs.LogGroup
  readonly securityGroup: ec2.SecurityGroup

  constructor(scope: Construct, id: string, props: KinesisPipelineServiceProps) {
    super(scope, id)
    const grace = props.gracePeriod ?? Duration.seconds(25)
    const stopTimeout = Duration.seconds(grace.toSeconds() + 5)
    // Fargate stops a container at most 120 seconds after SIGTERM.
    if (stopTimeout.toSeconds() > 120) throw new Error(`gracePeriod must be at most 115 seconds, got ${grace.toSeconds()}`)
    const port = props.port ?? 8080

    // No TTL: a lease holds its shard's checkpoint, which must never expire on its own.
    this.leaseTable = new dynamodb.Table(this, "LeaseTable", {
      partitionKey: { name: "leaseKey", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST
    })
    const { logGroup, taskDefinition } = Fargate.task(this, props, { cpu: 512, memoryLimitMiB: 1024 })
    this.logGroup = logGroup
    this.taskDefinition = taskDefinition
    this.container = taskDefinition.addContainer("Worker", {
      ...Fargate.container(port, logGroup, "worker"),
      image: props.image,
      stopTimeout,
      environment: {
        AWS_REGION: Stack.of(this).region,
        PORT: String(port),
        EDDY_STREAM_NAME: props.stream.streamName,
        EDDY_LEASE_TABLE: this.leaseTable.tableName,
        EDDY_INITIAL_POSITION: props.initialPosition ?? "TRIM_HORIZON",
        EDDY_GRACE_PERIOD: `${grace.toSeconds()} seconds`,
        ...props.state.environment(props.dedupNamespace ?? "default"),
        ...props.environment
      }
    })

    // No inbound traffic; HTTPS out to the AWS APIs.
    const minTasks = props.minTasks ?? 1
    const { securityGroup, service } = Fargate.service(this, {
      cluster: props.cluster,
      taskDefinition,
      desiredCount: minTasks,
      description: "eddy pipeline tasks: no inbound, HTTPS out",
      vpcSubnets: props.vpcSubnets,
      assignPublicIp: props.assignPublicIp
    })
    this.securityGroup = securityGroup
    this.service = service
    const scaling = this.service.autoScaleTaskCount({ minCapacity: minTasks, maxCapacity: props.maxTasks })
    scaling.scaleOnCpuUtilization("Cpu", { targetUtilizationPercent: props.targetCpuUtilization ?? 60 })

    const role = this.taskDefinition.taskRole
    allow(role, Actions.serviceRead, [props.stream.streamArn])
    allow(role, Actions.store, [props.state.aggregateTable.tableArn])
    allow(role, Actions.deduper, [props.state.dedupTable.tableArn])
    allow(role, Actions.leases, [this.leaseTable.tableArn])
    allow(role, Actions.sendMessage, [props.state.deadLetterQueue.queueArn])
  }
}
