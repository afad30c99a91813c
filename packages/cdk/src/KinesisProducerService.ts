/**
 * A producer on ECS Fargate, such as commerce-sync: an HTTP service that
 * writes events to Kinesis streams through `@eddy/kinesis/Producer`. Its task
 * role may put records to and list the shards of exactly those streams.
 * SIGTERM stops accepting requests and flushes the producers, so the stop
 * timeout leaves them time.
 */
import { Duration, Stack } from "aws-cdk-lib"
import * as ec2 from "aws-cdk-lib/aws-ec2"
import * as ecs from "aws-cdk-lib/aws-ecs"
import type * as kinesis from "aws-cdk-lib/aws-kinesis"
import * as logs from "aws-cdk-lib/aws-logs"
import { Construct } from "constructs"
import * as Actions from "./Actions"
import * as Fargate from "./internal/fargate"
import { allow } from "./internal/grant"

export interface KinesisProducerServiceProps {
  readonly cluster: ecs.ICluster
  readonly image: ecs.ContainerImage
  /** The streams it writes; their names reach the container through `environment`. */
  readonly streams: ReadonlyArray<kinesis.IStream>
  readonly environment: Record<string, string>
  /** Default 1. */
  readonly desiredCount?: number
  /** Default 256 CPU units, 512 MiB. */
  readonly cpu?: number
  readonly memoryLimitMiB?: number
  /** Default ARM64. */
  readonly cpuArchitecture?: ecs.CpuArchitecture
  /** `PORT`, default 8080: the API, `/healthz`. */
  readonly port?: number
  /** Where requests may come from; default nowhere (put a load balancer in front and allow it). */
  readonly allowFrom?: ec2.IPeer
  readonly vpcSubnets?: ec2.SubnetSelection
  readonly assignPublicIp?: boolean
  readonly logRetention?: logs.RetentionDays
}

export class KinesisProducerService extends Construct {
  readonly service: ecs.FargateService
  readonly taskDefinition: ecs.FargateTaskDefinition
  readonly securityGroup: ec2.SecurityGroup
  readonly logGroup: logs.LogGroup

  constructor(scope: Construct, id: string, props: KinesisProducerServiceProps) {
    super(scope, id)
    const port = props.port ?? 8080
    const { logGroup, taskDefinition } = Fargate.task(this, props, { cpu: 256, memoryLimitMiB: 512 })
    this.logGroup = logGroup
    this.taskDefinition = taskDefinition
    taskDefinition.addContainer("Api", {
      ...Fargate.container(port, logGroup, "api"),
      image: props.image,
      stopTimeout: Duration.seconds(30),
      environment: { AWS_REGION: Stack.of(this).region, PORT: String(port), ...props.environment }
    })
    const { securityGroup, service } = Fargate.service(this, {
      cluster: props.cluster,
      taskDefinition,
      desiredCount: props.desiredCount ?? 1,
      description: "eddy producer tasks: the API port in, HTTPS out",
      vpcSubnets: props.vpcSubnets,
      assignPublicIp: props.assignPublicIp
    })
    this.securityGroup = securityGroup
    this.service = service
    if (props.allowFrom !== undefined) securityGroup.addIngressRule(props.allowFrom, ec2.Port.tcp(port), "API")
    allow(this.taskDefinition.taskRole, Actions.produce, props.streams.map((s) => s.streamArn))
  }
}
