/**
 * What eddy's Fargate constructs share: a sized ARM64-by-default task with
 * its log group, a read-only container checked on `/healthz`, and a service
 * that rolls one task at a time with rollback, behind a security group that
 * lets nothing in and only HTTPS out.
 */
import { Duration } from "aws-cdk-lib"
import * as ec2 from "aws-cdk-lib/aws-ec2"
import * as ecs from "aws-cdk-lib/aws-ecs"
import * as logs from "aws-cdk-lib/aws-logs"
import type { Construct } from "constructs"

export interface TaskProps {
  readonly cpu?: number
  readonly memoryLimitMiB?: number
  readonly cpuArchitecture?: ecs.CpuArchitecture
  readonly logRetention?: logs.RetentionDays
}

/** The task definition, sized as `props` say or else by `defaults`, and the log group its container writes to. */
export const task = (scope: Construct, props: TaskProps, defaults: { readonly cpu: number; readonly memoryLimitMiB: number }) => ({
  logGroup: new logs.LogGroup(scope, "LogGroup", { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH }),
  taskDefinition: new ecs.FargateTaskDefinition(scope, "Task", {
    cpu: props.cpu ?? defaults.cpu,
    memoryLimitMiB: props.memoryLimitMiB ?? defaults.memoryLimitMiB,
    runtimePlatform: { operatingSystemFamily: ecs.OperatingSystemFamily.LINUX, cpuArchitecture: props.cpuArchitecture ?? ecs.CpuArchitecture.ARM64 }
  })
})

/** The container options both share: essential, a read-only root, the port, its `/healthz` check and its logs. */
export const container = (port: number, logGroup: logs.ILogGroup, streamPrefix: string) => ({
  essential: true,
  readonlyRootFilesystem: true,
  portMappings: [{ containerPort: port, protocol: ecs.Protocol.TCP }],
  healthCheck: {
    command: ["CMD", "node", "-e", `fetch('http://127.0.0.1:${port}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
    interval: Duration.seconds(15),
    timeout: Duration.seconds(5),
    retries: 3,
    startPeriod: Duration.seconds(20)
  },
  logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix })
})

export interface ServiceProps {
  readonly cluster: ecs.ICluster
  readonly taskDefinition: ecs.FargateTaskDefinition
  readonly desiredCount: number
  /** Of the security group. */
  readonly description: string
  readonly vpcSubnets?: ec2.SubnetSelection | undefined
  readonly assignPublicIp?: boolean | undefined
}

/** The service and its security group: no inbound rule, HTTPS out to the AWS APIs. */
export const service = (scope: Construct, props: ServiceProps) => {
  const securityGroup = new ec2.SecurityGroup(scope, "SecurityGroup", { vpc: props.cluster.vpc, description: props.description, allowAllOutbound: false })
  securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), "AWS APIs")
  const fargate = new ecs.FargateService(scope, "Service", {
    cluster: props.cluster,
    taskDefinition: props.taskDefinition,
    desiredCount: props.desiredCount,
    minHealthyPercent: 100,
    maxHealthyPercent: 200,
    circuitBreaker: { enable: true, rollback: true },
    securityGroups: [securityGroup],
    assignPublicIp: props.assignPublicIp ?? false,
    ...(props.vpcSubnets === undefined ? {} : { vpcSubnets: props.vpcSubnets })
  })
  return { securityGroup, service: fargate }
}
