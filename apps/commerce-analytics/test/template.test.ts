/**
 * The CloudFormation templates the project ships. They are synthesised from
 * the CDK stacks (`pnpm synth`), so the checked-in files must be exactly a
 * fresh synth; they must pass cfn-lint; and, read as plain CloudFormation,
 * they must hold what the code needs: the tables the stores create, the
 * mapping settings the Lambda handler is written for, containers that stop
 * after their grace period, and roles that grant exactly the API calls the
 * code makes (read from the source) on exactly its own resources.
 */
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as Tables from "@eddy/dynamodb/Tables"
import { describe, expect, it } from "@effect/vitest"
import { App } from "aws-cdk-lib"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parse } from "yaml"
import { commandsOf, consume, deadLetters, deduper, leases, produce, store, unique } from "../../../packages/cdk/test/support/Calls"
import { bundle } from "../src/bundle"
import { CommerceAnalyticsLambdaStack, CommerceAnalyticsServiceStack, CommerceSyncStack } from "../src/cdk/stacks"
import { generate } from "../src/cdk/synth"
import { pipelines } from "../src/pipelines"

const repo = new URL("../../../", import.meta.url)
const read = (path: string) => readFileSync(new URL(path, repo), "utf8")

const shipped = ["apps/commerce-analytics/template.yaml", "apps/commerce-analytics/service.yaml", "apps/commerce-sync/template.yaml", "packages/dynamodb/cloudformation.yaml"]

/**
 * cfn-lint warnings accepted, each with why (rule id to reason). None today;
 * a new warning fails the suite until it is fixed or justified here.
 */
const justifiedWarnings: Record<string, string> = {}

interface Resource {
  readonly Type: string
  readonly Properties: Record<string, any>
  readonly DependsOn?: ReadonlyArray<string>
}
interface CfnTemplate {
  readonly Parameters: Record<string, Record<string, unknown>>
  readonly Resources: Record<string, Resource>
  readonly Outputs: Record<string, { Value: unknown }>
}
const load = (path: string) => parse(read(path)) as CfnTemplate

const mappingRead = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]

const ofType = (t: CfnTemplate, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type)
const only = (t: CfnTemplate, type: string) => {
  const found = ofType(t, type)
  expect(found, type).toHaveLength(1)
  return found[0]!
}
/** The logical id or parameter an ARN expression names, with CDK's hash suffix dropped. */
const nameOf = (arn: any): string =>
  arn === "*" ? "*" : String(arn?.["Fn::GetAtt"]?.[0] ?? arn?.Ref ?? JSON.stringify(arn)).replace(/[0-9A-F]{8}$/, "")

/** A role's grants from the inline policies attached to it: resource to actions; Allow only, no wildcard action. */
const grants = (t: CfnTemplate, role: string): Record<string, Array<string>> => {
  const out: Record<string, Set<string>> = {}
  const policies = ofType(t, "AWS::IAM::Policy").filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]))
  for (const [, p] of policies) {
    for (const s of p.Properties.PolicyDocument.Statement) {
      expect(s.Effect).toBe("Allow")
      for (const r of [s.Resource].flat()) {
        for (const a of [s.Action].flat() as Array<string>) {
          expect(a, `${role}: ${a}`).not.toContain("*")
          ;(out[nameOf(r)] ??= new Set()).add(a)
        }
      }
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, unique(v)]))
}
/** The role logical id of `{ "Fn::GetAtt": [role, "Arn"] }`. */
const roleOf = (arn: any): string => String(arn["Fn::GetAtt"][0])
const env = (c: any): Record<string, any> => Object.fromEntries((c.Environment as ReadonlyArray<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]))
const sameKeys = (t: CfnTemplate, id: string, definition: { KeySchema?: unknown; AttributeDefinitions?: unknown }) => {
  expect(t.Resources[id]!.Properties.KeySchema, id).toEqual(definition.KeySchema)
  expect(t.Resources[id]!.Properties.AttributeDefinitions, id).toEqual(definition.AttributeDefinitions)
}
const tableId = (t: CfnTemplate, prefix: string) => {
  const ids = ofType(t, "AWS::DynamoDB::Table").map(([id]) => id).filter((id) => id.startsWith(prefix))
  expect(ids, prefix).toHaveLength(1)
  return ids[0]!
}

describe("the shipped templates", () => {
  it("are exactly what `pnpm synth` makes of the CDK stacks", { timeout: 120_000 }, () => {
    const generated = generate()
    expect(generated.map((g) => g.path).sort()).toEqual([...shipped].sort())
    for (const g of generated) expect(read(g.path), `${g.path} is stale: run pnpm synth`).toBe(g.text)
  })

  it("pass cfn-lint with no error and no unjustified warning", { timeout: 120_000 }, () => {
    const run = spawnSync("cfn-lint", ["--format", "json", ...shipped], { cwd: new URL(repo).pathname, encoding: "utf8" })
    if (run.error !== undefined) throw new Error(`cfn-lint could not run (${run.error.message}): install it (pip install cfn-lint) to run this suite`)
    const matches = JSON.parse(run.stdout || "[]") as ReadonlyArray<{ Level: string; Rule: { Id: string }; Message: string; Filename: string }>
    const failing = matches.filter((m) => m.Level === "Error" || (m.Level === "Warning" && !(m.Rule.Id in justifiedWarnings)))
    expect(failing.map((m) => `${m.Filename}: ${m.Rule.Id} ${m.Message}`)).toEqual([])
    // cfn-lint exits 0 with nothing to report, 4 for warnings only, 8 for informational only.
    expect([0, 4, 8, 12]).toContain(run.status)
  })

  it("need no CDK bootstrap: no asset or bootstrap parameters, rules or metadata", () => {
    for (const path of shipped) {
      const text = read(path)
      expect(text, path).not.toMatch(/BootstrapVersion|AssetParameters|cdk-hnb659fds|CDKMetadata|aws:cdk:path|^Rules:/m)
    }
  })
})

describe("the CDK app (what pnpm deploy:* deploys)", () => {
  it("synthesises offline with the Lambda bundle and the two images as assets, built for ARM64", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "eddy-cdk-app-"))
    try {
      await bundle("lambda", { outdir: join(dir, "dist") })
      const app = new App({ outdir: join(dir, "cdk.out"), analyticsReporting: false })
      const stacks = [
        new CommerceSyncStack(app, "CommerceSync", { artifacts: "assets" }),
        new CommerceAnalyticsLambdaStack(app, "CommerceAnalyticsLambda", { artifacts: "assets", bundleDir: join(dir, "dist") }),
        new CommerceAnalyticsServiceStack(app, "CommerceAnalyticsService", { artifacts: "assets" })
      ]
      const assembly = app.synth()
      const assets = (id: string) => {
        const manifest = JSON.parse(readFileSync(join(dir, "cdk.out", `${id}.assets.json`), "utf8"))
        return {
          files: Object.values(manifest.files ?? {}).map((f: any) => f.source.path).filter((p: string) => !p.endsWith(".json")),
          images: Object.values(manifest.dockerImages ?? {}).map((i: any) => [i.source.dockerFile, i.source.dockerBuildArgs, i.source.platform])
        }
      }
      expect(assets("CommerceSync").images).toEqual([["apps/commerce-analytics/Dockerfile", { ENTRY: "sync" }, "linux/arm64"]])
      expect(assets("CommerceAnalyticsService").images).toEqual([["apps/commerce-analytics/Dockerfile", { ENTRY: "service" }, "linux/arm64"]])
      expect(assets("CommerceAnalyticsLambda").files).toHaveLength(1)
      // The same stacks as the checked-in templates, less the code and image parameters.
      const lambda = assembly.getStackByName(stacks[1]!.stackName).template
      expect(Object.keys(lambda.Parameters).filter((p) => !p.startsWith("BootstrapVersion")).sort()).toEqual(["Architecture", "OrdersStreamArn", "ProductStreamArn"])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("template.yaml (the Lambda driver)", () => {
  const t = load("apps/commerce-analytics/template.yaml")
  const [fnId, fn] = only(t, "AWS::Lambda::Function")

  it("runs the bundle's handler on nodejs24.x, arm64 unless the Architecture parameter says x86_64, from the code parameters", () => {
    expect(fn.Properties).toMatchObject({
      Runtime: "nodejs24.x",
      Handler: "lambda.handler",
      Architectures: [{ Ref: "Architecture" }],
      Code: { S3Bucket: { Ref: "LambdaCodeBucket" }, S3Key: { Ref: "LambdaCodeKey" } },
      LoggingConfig: { LogFormat: "JSON" }
    })
    expect(t.Parameters.Architecture).toMatchObject({ Default: "arm64", AllowedValues: ["arm64", "x86_64"] })
    const logGroup = t.Resources[fn.Properties.LoggingConfig.LogGroup.Ref]!
    expect(logGroup.Properties.RetentionInDays).toBeGreaterThan(0)
  })

  it("maps each stream parameter with partial batch responses, bisection, bounded retries and age, an on-failure queue, and the pipelines' event types", () => {
    const mappings = ofType(t, "AWS::Lambda::EventSourceMapping").map(([, r]) => r.Properties)
    expect(mappings.map((m) => m.EventSourceArn)).toEqual([{ Ref: "OrdersStreamArn" }, { Ref: "ProductStreamArn" }])
    const eventTypes = unique(pipelines.flatMap((p) => [...p.events]))
    for (const m of mappings) {
      expect(m.FunctionName).toEqual({ Ref: fnId })
      expect(m.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"])
      expect(m.BisectBatchOnFunctionError).toBe(true)
      expect(Number.isInteger(m.MaximumRetryAttempts) && m.MaximumRetryAttempts >= 0 && m.MaximumRetryAttempts <= 10_000).toBe(true)
      expect(Number.isInteger(m.MaximumRecordAgeInSeconds) && m.MaximumRecordAgeInSeconds >= 60 && m.MaximumRecordAgeInSeconds <= 604_800).toBe(true)
      // The stores' per-shard watermarks need a shard's batches one at a time, in order.
      expect(m.ParallelizationFactor).toBe(1)
      expect(t.Resources[m.DestinationConfig.OnFailure.Destination["Fn::GetAtt"][0]]!.Type).toBe("AWS::SQS::Queue")
      expect(m.FilterCriteria.Filters.map((f: { Pattern: string }) => JSON.parse(f.Pattern))).toEqual([{ data: { type: eventTypes } }])
    }
  })

  it("keeps state in the tables the stores create, with TTL, and tells the handler where", () => {
    const aggregate = tableId(t, "PipelinesStateAggregateTable")
    const dedup = tableId(t, "PipelinesStateDedupTable")
    sameKeys(t, aggregate, Tables.aggregateTable("x"))
    sameKeys(t, dedup, Tables.dedupTable("x"))
    for (const id of [aggregate, dedup]) expect(t.Resources[id]!.Properties.TimeToLiveSpecification).toEqual({ AttributeName: Tables.attributes.expiresAt, Enabled: true })
    const variables = fn.Properties.Environment.Variables
    expect(variables.EDDY_AGGREGATE_TABLE).toEqual({ Ref: aggregate })
    expect(variables.EDDY_DEDUP_TABLE).toEqual({ Ref: dedup })
    expect(variables.EDDY_DEDUP_NAMESPACE).toBe("commerce")
    expect(JSON.stringify(variables.EDDY_DEAD_LETTER)).toMatch(/"sqs:".*PipelinesStateDeadLetterQueue/)
  })

  it("has no halted-shards alarm: Lambda halts no shard of its own, its mappings redeliver", () => {
    expect(ofType(t, "AWS::CloudWatch::Alarm").filter(([, a]) => a.Properties.MetricName === "ShardsHalted")).toEqual([])
  })

  it("lets the function's role do exactly what the mapping, the store, the deduper and the dead-letter sink do", () => {
    const role = roleOf(fn.Properties.Role)
    expect(t.Resources[role]!.Properties.ManagedPolicyArns).toBeUndefined()
    expect(grants(t, role)).toEqual({
      PipelinesLogGroup: ["logs:CreateLogStream", "logs:PutLogEvents"],
      OrdersStreamArn: mappingRead,
      ProductStreamArn: mappingRead,
      PipelinesStateAggregateTable: store,
      PipelinesStateDedupTable: deduper,
      PipelinesStateDeadLetterQueue: deadLetters,
      PipelinesOnFailureQueue: ["sqs:SendMessage"]
    })
  })
})

describe("service.yaml (the ECS driver)", () => {
  const t = load("apps/commerce-analytics/service.yaml")
  const tasks = ofType(t, "AWS::ECS::TaskDefinition")

  it("runs a Fargate worker service per stream, each with its lease table, health check and a stop timeout above its grace period", () => {
    const workers = tasks.map(([, task]) => {
      expect(task.Properties.RequiresCompatibilities).toEqual(["FARGATE"])
      const [c] = task.Properties.ContainerDefinitions
      const e = env(c)
      expect(c.HealthCheck.Command.join(" ")).toContain(`127.0.0.1:${e.PORT}/healthz`)
      expect(Number.parseInt(String(e.EDDY_GRACE_PERIOD))).toBeLessThan(c.StopTimeout)
      expect(c.Image["Fn::Join"][1]).toContainEqual({ Ref: "ImageTag" })
      sameKeys(t, e.EDDY_LEASE_TABLE.Ref, DynamoLeases.leaseTable("x"))
      expect(e.EDDY_DEDUP_NAMESPACE).toBe("commerce")
      return [JSON.stringify(e.EDDY_STREAM_NAME).match(/OrdersStreamArn|ProductStreamArn/)![0], e.EDDY_LEASE_TABLE.Ref.replace(/[0-9A-F]{8}$/, "")]
    })
    expect(workers).toEqual([["OrdersStreamArn", "OrdersWorkersLeaseTable"], ["ProductStreamArn", "ProductWorkersLeaseTable"]])
    for (const [, s] of ofType(t, "AWS::ECS::Service")) {
      expect(s.Properties.NetworkConfiguration.AwsvpcConfiguration.Subnets).toEqual({ Ref: "Subnets" })
      expect(s.Properties.DeploymentConfiguration.DeploymentCircuitBreaker).toEqual({ Enable: true, Rollback: true })
    }
  })

  it("alarms when a worker reports a halted shard: ShardsHalted of each worker's stream, in its namespace, of at least 1 in a minute, no data no alarm", () => {
    const halted = ofType(t, "AWS::CloudWatch::Alarm").map(([, a]) => a.Properties).filter((a) => a.MetricName === "ShardsHalted")
    const [topic] = only(t, "AWS::SNS::Topic")
    // What each worker writes (its stream's name as the dimension, in EDDY_METRICS_NAMESPACE, eddy by default), alarmed on at 1 or more in a minute.
    const expected = tasks.map(([, task]) => {
      const e = env(task.Properties.ContainerDefinitions[0])
      return [e.EDDY_METRICS_NAMESPACE ?? "eddy", [{ Name: "stream", Value: e.EDDY_STREAM_NAME }], "Maximum GreaterThanOrEqualToThreshold 1 in 1 x 60 s", "notBreaching", [{ Ref: topic }]]
    })
    expect(halted.map((a) => [
      a.Namespace,
      a.Dimensions,
      `${a.Statistic} ${a.ComparisonOperator} ${a.Threshold} in ${a.EvaluationPeriods} x ${a.Period} s`,
      a.TreatMissingData,
      a.OKActions
    ])).toEqual(expected)
    for (const a of halted) expect(a.AlarmActions).toEqual(a.OKActions)
  })

  it("scales each service up to its stream's shard count", () => {
    expect(ofType(t, "AWS::ApplicationAutoScaling::ScalableTarget").map(([, s]) => s.Properties.MaxCapacity)).toEqual([{ Ref: "OrdersShards" }, { Ref: "ProductShards" }])
  })

  it("lets each task role do exactly what the consumer, shard listing, store, deduper, leases and dead letters do", () => {
    const byWorker = tasks.map(([, task]) => grants(t, roleOf(task.Properties.TaskRoleArn)))
    expect(byWorker).toEqual(["Orders", "Product"].map((w) => ({
      [`${w}StreamArn`]: consume,
      StateAggregateTable: store,
      StateDedupTable: deduper,
      [`${w}WorkersLeaseTable`]: leases,
      StateDeadLetterQueue: deadLetters
    })))
  })

  it("lets the execution roles pull the image from its repository and write the logs, nothing else", () => {
    for (const [, task] of tasks) {
      const g = grants(t, roleOf(task.Properties.ExecutionRoleArn))
      expect(g["*"]).toEqual(["ecr:GetAuthorizationToken"])
      const logs = Object.keys(g).filter((k) => k.includes("LogGroup"))
      expect(logs.map((k) => g[k])).toEqual([["logs:CreateLogStream", "logs:PutLogEvents"]])
      const pull = Object.entries(g).filter(([k]) => k !== "*" && !k.includes("LogGroup"))
      expect(pull).toHaveLength(1)
      expect(pull[0]![0]).toContain("ImageRepository")
      expect(pull[0]![1]).toEqual(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"])
    }
  })
})

describe("apps/commerce-sync/template.yaml (the streams and the producer)", () => {
  const t = load("apps/commerce-sync/template.yaml")

  it("creates the two streams and runs commerce-sync writing to them, allowed only to put records and list shards", () => {
    expect(ofType(t, "AWS::Kinesis::Stream").map(([id]) => id.replace(/[0-9A-F]{8}$/, ""))).toEqual(["OrdersStream", "ProductStream"])
    const [, task] = only(t, "AWS::ECS::TaskDefinition")
    const e = env(task.Properties.ContainerDefinitions[0])
    expect(nameOf(e.KINESIS_ORDERS_STREAM)).toBe("OrdersStream")
    expect(nameOf(e.KINESIS_PRODUCT_STREAM)).toBe("ProductStream")
    expect(grants(t, roleOf(task.Properties.TaskRoleArn))).toEqual({ OrdersStream: produce, ProductStream: produce })
    expect(Object.keys(t.Outputs)).toEqual(expect.arrayContaining(["OrdersStreamArn", "ProductStreamArn"]))
  })
})

describe("packages/dynamodb/cloudformation.yaml (the tables alone)", () => {
  const t = load("packages/dynamodb/cloudformation.yaml")

  it("has the tables as Tables creates them and a policy for what the store, deduper, ensure and dead letters call", () => {
    const aggregate = tableId(t, "StateAggregateTable")
    const dedup = tableId(t, "StateDedupTable")
    sameKeys(t, aggregate, Tables.aggregateTable("x"))
    sameKeys(t, dedup, Tables.dedupTable("x"))
    const [, policy] = only(t, "AWS::IAM::ManagedPolicy")
    const allowed: Record<string, Array<string>> = {}
    for (const s of policy.Properties.PolicyDocument.Statement) for (const r of [s.Resource].flat()) allowed[nameOf(r)] = unique([s.Action].flat())
    const ensure = commandsOf("dynamodb", "packages/dynamodb/src/Tables.ts").filter((a) => a.includes(":Describe"))
    expect(allowed).toEqual({
      StateAggregateTable: unique([...store, ...ensure]),
      StateDedupTable: unique([...deduper, ...ensure]),
      StateDeadLetterQueue: deadLetters
    })
  })
})
