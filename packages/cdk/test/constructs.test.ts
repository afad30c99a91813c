/**
 * The constructs, synthesised offline in a stack of their own and checked
 * with aws-cdk-lib/assertions: the mapping settings the Lambda handler is
 * written for, the service's sizing, stop timeout and scaling bound, roles
 * that grant exactly the calls eddy's code makes (read from the source, so a
 * new call without its grant fails here), and the alarms.
 */
import { KinesisPipelineFunction, type KinesisPipelineFunctionProps, KinesisPipelineService, KinesisProducerService, ParallelizationFactorError, PipelineAlarms, PipelineState } from "@eddy/cdk"
import { describe, expect, it } from "@effect/vitest"
import { App, Duration, Stack } from "aws-cdk-lib"
import { Match, Template } from "aws-cdk-lib/assertions"
import * as ec2 from "aws-cdk-lib/aws-ec2"
import * as ecs from "aws-cdk-lib/aws-ecs"
import * as kinesis from "aws-cdk-lib/aws-kinesis"
import * as lambda from "aws-cdk-lib/aws-lambda"
import { commandsOf, consume, deadLetters, deduper, leases, produce, store, storeClaims, unique } from "./support/Calls"


const stack = () => new Stack(new App(), "Test", { env: { account: "123456789012", region: "eu-west-1" } })
const streamsIn = (s: Stack) => [new kinesis.Stream(s, "Orders", { shardCount: 2 }), new kinesis.Stream(s, "Products", { shardCount: 1 })]

/** The statements of every policy attached to the role whose logical id starts with `rolePrefix`. */
const statementsOf = (template: Template, rolePrefix: string): Array<{ Action: string | Array<string>; Resource: unknown; Effect: string }> => {
  const roles = Object.keys(template.findResources("AWS::IAM::Role")).filter((id) => id.startsWith(rolePrefix))
  expect(roles, rolePrefix).toHaveLength(1)
  return Object.values(template.findResources("AWS::IAM::Policy"))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roles[0] }]))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
}

/** Resource (the logical id an ARN names) to the actions allowed on it; no wildcard anywhere. */
const grants = (template: Template, rolePrefix: string): Record<string, Array<string>> => {
  const out: Record<string, Set<string>> = {}
  for (const s of statementsOf(template, rolePrefix)) {
    expect(s.Effect).toBe("Allow")
    const actions = typeof s.Action === "string" ? [s.Action] : s.Action
    for (const r of Array.isArray(s.Resource) ? s.Resource : [s.Resource]) {
      const key = r?.["Fn::GetAtt"]?.[0] ?? r?.Ref ?? JSON.stringify(r)
      expect(key, "no wildcard resource").not.toContain("*")
      for (const a of actions) {
        expect(a, "no wildcard action").not.toContain("*")
        ;(out[key] ??= new Set()).add(a)
      }
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k.replace(/[0-9A-F]{8}$/, ""), unique(v)]))
}

describe("KinesisPipelineFunction", () => {
  const synth = (props: Partial<ConstructorParameters<typeof KinesisPipelineFunction>[2]> = {}) => {
    const s = stack()
    const fn = new KinesisPipelineFunction(s, "Fn", {
      code: lambda.Code.fromInline("export const handler = async () => ({ batchItemFailures: [] })"),
      streams: streamsIn(s),
      eventTypes: ["order.created", "product.updated", "order.created"],
      ...props
    })
    return { template: Template.fromStack(s), fn }
  }

  it("runs the bundle on nodejs24.x, arm64 by default, logging JSON to a log group with retention", () => {
    const { template } = synth()
    template.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "lambda.handler",
      LoggingConfig: { LogFormat: "JSON", LogGroup: { Ref: Match.stringLikeRegexp("^FnLogGroup") } }
    })
    template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 })
    expect(synth({ architecture: lambda.Architecture.X86_64 }).template.findResources("AWS::Lambda::Function", { Properties: { Architectures: ["x86_64"] } })).not.toEqual({})
  })

  it("maps each stream with partial batch responses, bisection, bounded retries and age, an on-failure queue, and one batch per shard", () => {
    const { template } = synth()
    const mappings = template.findResources("AWS::Lambda::EventSourceMapping")
    expect(Object.keys(mappings)).toHaveLength(2)
    for (const m of Object.values(mappings)) {
      expect(m.Properties).toMatchObject({
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 10,
        MaximumRecordAgeInSeconds: 21_600,
        BatchSize: 1000,
        MaximumBatchingWindowInSeconds: 1,
        ParallelizationFactor: 1,
        StartingPosition: "TRIM_HORIZON",
        DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [expect.stringMatching(/^FnOnFailureQueue/), "Arn"] } } }
      })
    }
    expect(() => synth({ retryAttempts: -1 })).toThrow(/bounded/)
    expect(() => synth({ maxRecordAge: Duration.days(8) })).toThrow(/bounded/)
  })

  it("runs up to ten batches per shard only with the partitionKey ordering, which it passes to the handler", () => {
    const { template } = synth({ parallelizationFactor: 10, ordering: "partitionKey" })
    for (const m of Object.values(template.findResources("AWS::Lambda::EventSourceMapping"))) expect(m.Properties.ParallelizationFactor).toBe(10)
    template.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: Match.objectLike({ EDDY_ORDERING: "partitionKey" }) } })
    // The claims are puts in the store's transactions.
    expect(grants(template, "FnRole").FnStateAggregateTable).toEqual(storeClaims)
    expect(synth().template.findResources("AWS::Lambda::Function", { Properties: { Environment: { Variables: { EDDY_ORDERING: "partitionKey" } } } })).toEqual({})

    const refused = (props: Partial<KinesisPipelineFunctionProps>) => {
      try {
        synth(props)
      } catch (e) {
        return e
      }
      return undefined
    }
    const shardOrdered = refused({ parallelizationFactor: 4 })
    expect(shardOrdered).toBeInstanceOf(ParallelizationFactorError)
    expect(shardOrdered).toMatchObject({ _tag: "ParallelizationFactorError", parallelizationFactor: 4, ordering: "shard" })
    expect((shardOrdered as Error).message).toMatch(/set ordering: "partitionKey"/)
    expect(refused({ parallelizationFactor: 11, ordering: "partitionKey" })).toMatchObject({ _tag: "ParallelizationFactorError", message: expect.stringMatching(/1\.\.10/) })
    expect(refused({ parallelizationFactor: 0 })).toBeInstanceOf(ParallelizationFactorError)
  })

  it("filters the records to the pipelines' event types, unless the producers aggregate", () => {
    const pattern = (t: Template) =>
      Object.values(t.findResources("AWS::Lambda::EventSourceMapping")).map((m) => m.Properties.FilterCriteria?.Filters?.map((f: { Pattern: string }) => JSON.parse(f.Pattern)))
    expect(pattern(synth().template)).toEqual([
      [{ data: { type: ["order.created", "product.updated"] } }],
      [{ data: { type: ["order.created", "product.updated"] } }]
    ])
    expect(pattern(synth({ aggregatedRecords: true }).template)).toEqual([undefined, undefined])
  })

  it("keeps aggregates and claims in tables with TTL, and passes their names and the dead-letter queue to the handler", () => {
    const { template } = synth()
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true }
    })
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true }
    })
    const env = Object.values(template.findResources("AWS::Lambda::Function"))[0]!.Properties.Environment.Variables
    expect(Object.keys(env).sort()).toEqual(["EDDY_AGGREGATE_TABLE", "EDDY_DEAD_LETTER", "EDDY_DEDUP_NAMESPACE", "EDDY_DEDUP_TABLE"])
    expect(JSON.stringify(env.EDDY_DEAD_LETTER)).toContain("sqs:")
  })

  it("lets the role do exactly what the mapping, the store, the deduper and the dead-letter sink do, on their resources only", () => {
    const { template } = synth()
    expect(template.findResources("AWS::IAM::Role", { Properties: { ManagedPolicyArns: Match.anyValue() } })).toEqual({})
    const streamRead = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    expect(grants(template, "FnRole")).toEqual({
      FnLogGroup: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Orders: streamRead,
      Products: streamRead,
      FnStateAggregateTable: store,
      FnStateDedupTable: deduper,
      FnStateDeadLetterQueue: deadLetters,
      FnOnFailureQueue: ["sqs:SendMessage"]
    })
  })
})

describe("KinesisPipelineService", () => {
  const synth = (props: Partial<ConstructorParameters<typeof KinesisPipelineService>[2]> = {}) => {
    const s = stack()
    const vpc = new ec2.Vpc(s, "Vpc", { maxAzs: 2, natGateways: 1 })
    const state = new PipelineState(s, "State")
    const [orders] = streamsIn(s)
    new KinesisPipelineService(s, "Svc", {
      cluster: new ecs.Cluster(s, "Cluster", { vpc: vpc as ec2.IVpc }) as ecs.ICluster,
      image: ecs.ContainerImage.fromRegistry("example/eddy:1"),
      stream: orders!,
      maxTasks: 2,
      state,
      ...props
    })
    return Template.fromStack(s)
  }

  it("runs one read-only worker container, health-checked on /healthz, stopped after its grace period", () => {
    const template = synth()
    const task = Object.values(template.findResources("AWS::ECS::TaskDefinition"))[0]!.Properties
    expect(task).toMatchObject({ Cpu: "512", Memory: "1024", RequiresCompatibilities: ["FARGATE"], RuntimePlatform: { CpuArchitecture: "ARM64" } })
    const [c] = task.ContainerDefinitions
    const env = Object.fromEntries(c.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]))
    expect(c.ReadonlyRootFilesystem).toBe(true)
    expect(c.HealthCheck.Command.join(" ")).toContain(`127.0.0.1:${env.PORT}/healthz`)
    expect(Number.parseInt(env.EDDY_GRACE_PERIOD)).toBeLessThan(c.StopTimeout)
    expect(env.EDDY_LEASE_TABLE).toEqual({ Ref: expect.stringMatching(/^SvcLeaseTable/) })
    expect(Object.keys(env)).toEqual(expect.arrayContaining(["EDDY_STREAM_NAME", "EDDY_AGGREGATE_TABLE", "EDDY_DEDUP_TABLE", "EDDY_DEAD_LETTER"]))
    expect(() => synth({ gracePeriod: Duration.seconds(116) })).toThrow(/at most 115/)
  })

  it("scales on CPU from one task up to the shard count", () => {
    const template = synth()
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", { MinCapacity: 1, MaxCapacity: 2 })
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      TargetTrackingScalingPolicyConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" }, TargetValue: 60 }
    })
  })

  it("keeps leases in a table of their own without TTL (a lease holds a checkpoint)", () => {
    const template = synth()
    const [lease] = Object.entries(template.findResources("AWS::DynamoDB::Table")).filter(([id]) => id.startsWith("SvcLeaseTable"))
    expect(lease![1].Properties.KeySchema).toEqual([{ AttributeName: "leaseKey", KeyType: "HASH" }])
    expect(lease![1].Properties.TimeToLiveSpecification).toBeUndefined()
  })

  it("lets the task role do exactly what the consumer, shard listing, store, deduper, leases and dead letters do", () => {
    expect(grants(synth(), "SvcTaskTaskRole")).toEqual({
      Orders: consume,
      StateAggregateTable: store,
      StateDedupTable: deduper,
      SvcLeaseTable: leases,
      StateDeadLetterQueue: deadLetters
    })
  })
  it("with enhanced fan-out, also lets the task role register its stream consumer and subscribe with it, that consumer only", () => {
    const template = synth({ readMode: "efo", consumerName: "analytics" })
    const env = Object.fromEntries(
      Object.values(template.findResources("AWS::ECS::TaskDefinition"))[0]!.Properties.ContainerDefinitions[0].Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value])
    )
    expect(env).toMatchObject({ EDDY_READ_MODE: "efo", EDDY_CONSUMER_NAME: "analytics" })
    const fanOut = commandsOf("kinesis", "packages/kinesis/src/FanOut.ts")
    const statements = statementsOf(template, "SvcTaskTaskRole")
    const actions = (s: { Action: string | Array<string> }) => (typeof s.Action === "string" ? [s.Action] : s.Action)
    const onStream = statements.filter((s) => (s.Resource as { "Fn::GetAtt"?: Array<string> })?.["Fn::GetAtt"]?.[0]?.startsWith("Orders"))
    const onConsumer = statements.filter((s) => JSON.stringify(s.Resource).includes("/consumer/analytics:*"))
    expect(onConsumer).toHaveLength(1)
    expect(JSON.stringify(onConsumer[0]!.Resource)).toMatch(/^\{"Fn::Join":\["",\[\{"Fn::GetAtt":\["Orders[0-9A-F]{8}","Arn"\]\},"\/consumer\/analytics:\*"\]\]\}$/)
    const granted = unique([...onStream.flatMap(actions), ...onConsumer.flatMap(actions)])
    expect(granted).toEqual(unique([...consume, ...fanOut]))
    expect(unique(onConsumer.flatMap(actions))).toEqual(["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"])
  })
})

describe("KinesisProducerService", () => {
  it("lets the task role put records to and list the shards of its streams only", () => {
    const s = stack()
    const vpc = new ec2.Vpc(s, "Vpc", { maxAzs: 2, natGateways: 1 })
    new KinesisProducerService(s, "Sync", {
      cluster: new ecs.Cluster(s, "Cluster", { vpc: vpc as ec2.IVpc }) as ecs.ICluster,
      image: ecs.ContainerImage.fromRegistry("example/sync:1"),
      streams: streamsIn(s),
      environment: {}
    })
    expect(produce).toEqual(["kinesis:ListShards", "kinesis:PutRecords"])
    expect(grants(Template.fromStack(s), "SyncTaskTaskRole")).toEqual({ Orders: produce, Products: produce })
  })
})

describe("PipelineAlarms", () => {
  const synth = () => {
    const s = stack()
    const streams = streamsIn(s)
    const fn = new KinesisPipelineFunction(s, "Fn", { code: lambda.Code.fromInline("x"), streams, eventTypes: ["order.created"] })
    new PipelineAlarms(s, "Alarms", { state: fn.state, streams, function: fn.function, onFailureQueue: fn.onFailureQueue, createTopic: true })
    return Template.fromStack(s)
  }

  it("alarms on iterator age, silence, dead letters, on-failure batches, DynamoDB throttles and errors, Lambda errors and throttles", () => {
    const alarms = Object.values(synth().findResources("AWS::CloudWatch::Alarm")).map((a) => a.Properties)
    const named = (metric: string) => alarms.filter((a) => a.MetricName === metric || JSON.stringify(a.Metrics ?? []).includes(`"MetricName":"${metric}"`))
    expect(named("GetRecords.IteratorAgeMilliseconds")).toHaveLength(2)
    expect(named("IncomingRecords").map((a) => [a.ComparisonOperator, a.TreatMissingData])).toEqual([
      ["LessThanThreshold", "breaching"],
      ["LessThanThreshold", "breaching"]
    ])
    expect(named("ApproximateNumberOfMessagesVisible")).toHaveLength(2)
    expect(named("ThrottledRequests")).toHaveLength(2)
    expect(named("SystemErrors")).toHaveLength(2)
    expect(named("Errors")).toHaveLength(1)
    expect(named("Throttles")).toHaveLength(1)
    expect(named("IteratorAge")).toHaveLength(1)
    // No service driver, no halted-shards alarm.
    expect(named("ShardsHalted")).toEqual([])
    for (const a of alarms) {
      expect(a.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) }])
      expect(a.OKActions).toEqual(a.AlarmActions)
    }
  })

  it("with the service driver, alarms on each stream's halted shards: ShardsHalted of at least 1 in a minute, no data no alarm", () => {
    const s = stack()
    const streams = streamsIn(s)
    const state = new PipelineState(s, "State")
    const vpc = new ec2.Vpc(s, "Vpc", { maxAzs: 2, natGateways: 1 })
    const cluster = new ecs.Cluster(s, "Cluster", { vpc: vpc as ec2.IVpc }) as ecs.ICluster
    const workers = streams.map((stream, i) =>
      new KinesisPipelineService(s, `Svc${i}`, { cluster, image: ecs.ContainerImage.fromRegistry("example/eddy:1"), stream, maxTasks: 2, state })
    )
    new PipelineAlarms(s, "Alarms", { state, streams, leaseTables: workers.map((w) => w.leaseTable), metricsNamespace: "shop", createTopic: true })
    const template = Template.fromStack(s)
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm")).map((a) => a.Properties)
    const streamNames = Object.values(template.findResources("AWS::ECS::TaskDefinition")).map((t) =>
      t.Properties.ContainerDefinitions[0].Environment.find((e: { Name: string }) => e.Name === "EDDY_STREAM_NAME").Value
    )
    expect(streamNames).toEqual([{ Ref: expect.stringMatching(/^Orders/) }, { Ref: expect.stringMatching(/^Products/) }])
    const halted = alarms.filter((a) => a.MetricName === "ShardsHalted")
    expect(halted).toHaveLength(2)
    halted.forEach((a, i) => {
      expect(a).toMatchObject({
        Namespace: "shop",
        Statistic: "Maximum",
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
        AlarmActions: [{ Ref: expect.stringMatching(/^AlarmsTopic/) }]
      })
      expect(a.OKActions).toEqual(a.AlarmActions)
      // The dimension is the stream name the service is given (EDDY_STREAM_NAME), as it writes it.
      expect(a.Dimensions).toEqual([{ Name: "stream", Value: streamNames[i] }])
    })
  })
})
