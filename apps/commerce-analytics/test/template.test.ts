/**
 * template.yaml, parsed (CloudFormation's short tags included) and held to
 * what the code needs: the tables the stores create, the event-source
 * mapping settings the Lambda handler is written for, and roles that grant
 * exactly the API calls the code makes, on exactly its own resources.
 */
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as Tables from "@eddy/dynamodb/Tables"
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { type CollectionTag, parse, type ScalarTag, type YAMLSeq } from "yaml"

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8")

// The short forms of the intrinsic functions, as their long forms.
const scalar = (tag: string, fn: string, map: (v: string) => unknown = (v) => v): ScalarTag => ({ tag, resolve: (v) => ({ [fn]: map(v) }) })
const sequence = (tag: string, fn: string): CollectionTag => ({ tag, collection: "seq", resolve: (seq) => ({ [fn]: (seq as YAMLSeq).toJSON() }) })
const customTags = [
  scalar("!Ref", "Ref"),
  scalar("!GetAtt", "Fn::GetAtt", (v) => v.split(".")),
  scalar("!Sub", "Fn::Sub"),
  sequence("!Sub", "Fn::Sub"),
  sequence("!GetAtt", "Fn::GetAtt"),
  sequence("!Equals", "Fn::Equals"),
  sequence("!If", "Fn::If"),
  sequence("!Join", "Fn::Join"),
  sequence("!Select", "Fn::Select")
]

interface Resource {
  readonly Type: string
  readonly Condition?: string
  readonly Properties: Record<string, any>
}

const template = parse(read("../template.yaml"), { customTags }) as {
  readonly Parameters: Record<string, unknown>
  readonly Conditions: Record<string, unknown>
  readonly Resources: Record<string, Resource>
}
const resources = template.Resources
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type)

/** The logical ids an expression refers to: `Ref`, `Fn::GetAtt`, and `${Name}` / `${Name.Attr}` inside `Fn::Sub`. */
const referencesIn = (value: unknown): Array<string> => {
  if (Array.isArray(value)) return value.flatMap(referencesIn)
  if (typeof value !== "object" || value === null) return []
  const v = value as Record<string, unknown>
  if (typeof v.Ref === "string") return [v.Ref]
  if (Array.isArray(v["Fn::GetAtt"])) return [String(v["Fn::GetAtt"][0])]
  if (v["Fn::Sub"] !== undefined) {
    const [text, vars] = Array.isArray(v["Fn::Sub"]) ? v["Fn::Sub"] : [v["Fn::Sub"], {}]
    const named = Array.from(String(text).matchAll(/\$\{([^}!]+)\}/g), (m) => m[1]!.split(".")[0]!).filter((n) => !(n in (vars as object)))
    return [...named, ...referencesIn(vars)]
  }
  return Object.values(v).flatMap(referencesIn)
}

const pseudo = new Set(["AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName"])

/** The resource an ARN expression names (`!GetAtt X.Arn`), or the expression itself. */
const target = (arn: unknown): string => {
  const v = arn as Record<string, unknown>
  if (Array.isArray(v?.["Fn::GetAtt"]) && v["Fn::GetAtt"][1] === "Arn") return String(v["Fn::GetAtt"][0])
  return JSON.stringify(arn)
}

interface Statement {
  readonly Effect: string
  readonly Action: string | ReadonlyArray<string>
  readonly Resource: unknown
}

const list = <A>(x: A | ReadonlyArray<A>): ReadonlyArray<A> => (Array.isArray(x) ? x : [x as A])

/** A role's grants: resource (logical id, or the expression) to the actions allowed on it. */
const grants = (role: string): Map<string, Set<string>> => {
  const out = new Map<string, Set<string>>()
  for (const policy of resources[role]!.Properties.Policies as ReadonlyArray<{ PolicyDocument: { Statement: ReadonlyArray<Statement> } }>) {
    for (const s of policy.PolicyDocument.Statement) {
      expect(s.Effect).toBe("Allow")
      for (const r of list(s.Resource)) {
        const key = r === "*" ? "*" : target(r)
        const actions = out.get(key) ?? new Set()
        for (const a of list(s.Action)) actions.add(a)
        out.set(key, actions)
      }
    }
  }
  return out
}

/** The DynamoDB operations a module sends (`new XCommand(`), as IAM actions. */
const dynamoActionsOf = (file: string, except: ReadonlyArray<string> = []) =>
  Array.from(new Set(Array.from(read(`../../../packages/dynamodb/src/${file}`).matchAll(/new (\w+)Command\(/g), (m) => m[1]!)))
    .filter((op) => !except.includes(op))
    .map((op) => `dynamodb:${op}`)
    .sort()

const sorted = (s: Set<string> | undefined) => Array.from(s ?? []).sort()

describe("template.yaml", () => {
  it("refers only to what it declares, and conditional resources only to resources that exist under the same condition", () => {
    for (const [id, r] of Object.entries(resources)) {
      for (const name of referencesIn(r.Properties)) {
        if (pseudo.has(name) || name in template.Parameters) continue
        expect(resources[name], `${id} refers to ${name}`).toBeDefined()
        const condition = resources[name]!.Condition
        if (condition !== undefined) expect(r.Condition, `${id} refers to ${name}, which exists only under ${condition}`).toBe(condition)
      }
      if (r.Condition !== undefined) expect(template.Conditions[r.Condition], `${id}'s condition`).toBeDefined()
    }
  })

  it("has the two streams and the state tables as the stores create them, with TTL where items expire", () => {
    expect(ofType("AWS::Kinesis::Stream").map(([id]) => id).sort()).toEqual(["OrdersStream", "ProductStream"])
    const table = (id: string) => resources[id]!.Properties
    const sameKeys = (id: string, definition: { KeySchema?: unknown; AttributeDefinitions?: unknown }) => {
      expect(table(id).KeySchema, id).toEqual(definition.KeySchema)
      expect(table(id).AttributeDefinitions, id).toEqual(definition.AttributeDefinitions)
    }
    sameKeys("AggregateTable", Tables.aggregateTable("x"))
    sameKeys("DedupTable", Tables.dedupTable("x"))
    sameKeys("OrdersLeaseTable", DynamoLeases.leaseTable("x"))
    sameKeys("ProductLeaseTable", DynamoLeases.leaseTable("x"))
    for (const id of ["AggregateTable", "DedupTable"]) {
      expect(table(id).TimeToLiveSpecification, id).toEqual({ AttributeName: Tables.attributes.expiresAt, Enabled: true })
    }
  })

  it("maps each stream to the function with partial batch responses, bisection, bounded retries and age, and an on-failure queue", () => {
    const mappings = ofType("AWS::Lambda::EventSourceMapping").map(([, r]) => r.Properties)
    expect(mappings.map((m) => target(m.EventSourceArn)).sort()).toEqual(["OrdersStream", "ProductStream"])
    for (const m of mappings) {
      expect(m.FunctionName).toEqual({ Ref: "AnalyticsFunction" })
      expect(m.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"])
      expect(m.BisectBatchOnFunctionError).toBe(true)
      // -1 (the default) would retry and keep records until they expire: bounded means a number in range.
      expect(Number.isInteger(m.MaximumRetryAttempts) && m.MaximumRetryAttempts >= 0 && m.MaximumRetryAttempts <= 10_000).toBe(true)
      expect(Number.isInteger(m.MaximumRecordAgeInSeconds) && m.MaximumRecordAgeInSeconds >= 60 && m.MaximumRecordAgeInSeconds <= 604_800).toBe(true)
      // The stores' per-shard watermarks need a shard's batches one at a time, in order.
      expect(m.ParallelizationFactor ?? 1).toBe(1)
      expect(resources[target(m.DestinationConfig.OnFailure.Destination)]!.Type).toBe("AWS::SQS::Queue")
    }
  })

  it("configures the function as the bundle and state.ts expect, dead letters to the SQS queue", () => {
    const fn = resources.AnalyticsFunction!.Properties
    expect(fn.Handler).toBe("lambda.handler")
    expect(fn.Runtime).toBe("nodejs20.x")
    expect(fn.Role).toEqual({ "Fn::GetAtt": ["LambdaRole", "Arn"] })
    expect(fn.Environment.Variables).toEqual({
      EDDY_AGGREGATE_TABLE: { Ref: "AggregateTable" },
      EDDY_DEDUP_TABLE: { Ref: "DedupTable" },
      EDDY_DEDUP_NAMESPACE: "commerce",
      EDDY_DEAD_LETTER: { "Fn::Sub": "sqs:${DeadLetterQueue}" }
    })
    expect(resources.DeadLetterQueue!.Type).toBe("AWS::SQS::Queue")
  })

  it("runs the service on Fargate, a worker per stream with its lease table, port and health check", () => {
    const task = resources.TaskDefinition!.Properties
    expect(task.RequiresCompatibilities).toEqual(["FARGATE"])
    expect(task.NetworkMode).toBe("awsvpc")
    expect(task.TaskRoleArn).toEqual({ "Fn::GetAtt": ["TaskRole", "Arn"] })
    const env = (c: any) => Object.fromEntries((c.Environment as ReadonlyArray<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]))
    const workers = (task.ContainerDefinitions as ReadonlyArray<any>).map((c) => [env(c).EDDY_STREAM_NAME, env(c).EDDY_LEASE_TABLE])
    expect(workers).toEqual([[{ Ref: "OrdersStream" }, { Ref: "OrdersLeaseTable" }], [{ Ref: "ProductStream" }, { Ref: "ProductLeaseTable" }]])
    for (const c of task.ContainerDefinitions as ReadonlyArray<any>) {
      const e = env(c)
      expect(e.EDDY_AGGREGATE_TABLE).toEqual({ Ref: "AggregateTable" })
      expect(e.EDDY_DEDUP_TABLE).toEqual({ Ref: "DedupTable" })
      expect(e.EDDY_DEAD_LETTER).toEqual({ "Fn::Sub": "sqs:${DeadLetterQueue}" })
      expect(c.PortMappings).toEqual([{ ContainerPort: Number(e.PORT), Protocol: "tcp" }])
      expect(c.HealthCheck.Command.join(" ")).toContain(`127.0.0.1:${e.PORT}/healthz`)
      // The service's grace period fits in the stop timeout.
      expect(Number.parseInt(String(e.EDDY_GRACE_PERIOD))).toBeLessThan(c.StopTimeout)
    }
    const service = resources.Service!.Properties
    expect(service.LaunchType).toBe("FARGATE")
    expect(service.TaskDefinition).toEqual({ Ref: "TaskDefinition" })
  })

  it("grants no wildcard action and no wildcard resource except where AWS requires one, and no managed policies", () => {
    for (const [id] of ofType("AWS::IAM::Role")) {
      expect(resources[id]!.Properties.ManagedPolicyArns, id).toBeUndefined()
      for (const [resource, actions] of grants(id)) {
        for (const action of actions) expect(action, `${id}: ${action}`).not.toContain("*")
        if (resource === "*") expect(sorted(actions), `${id}: actions on *`).toEqual(["ecr:GetAuthorizationToken"])
      }
    }
  })

  it("lets the Lambda role do what the mapping, the store, the deduper and the dead-letter sink do, on their resources only", () => {
    const lambda = grants("LambdaRole")
    expect(sorted(lambda.get("AggregateTable"))).toEqual(dynamoActionsOf("DynamoStore.ts"))
    expect(sorted(lambda.get("DedupTable"))).toEqual(dynamoActionsOf("DynamoDeduper.ts"))
    const streamRead = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    expect(sorted(lambda.get("OrdersStream"))).toEqual(streamRead)
    expect(sorted(lambda.get("ProductStream"))).toEqual(streamRead)
    expect(sorted(lambda.get("DeadLetterQueue"))).toEqual(["sqs:SendMessage"])
    expect(sorted(lambda.get("OnFailureQueue"))).toEqual(["sqs:SendMessage"])
    expect(sorted(lambda.get("LambdaLogGroup"))).toEqual(["logs:CreateLogStream", "logs:PutLogEvents"])
    expect(Array.from(lambda.keys()).sort()).toEqual(["AggregateTable", "DeadLetterQueue", "DedupTable", "LambdaLogGroup", "OnFailureQueue", "OrdersStream", "ProductStream"])
  })

  it("lets the task role read the streams and use its tables and queue, and the execution role only pull the image and log", () => {
    const task = grants("TaskRole")
    // The service lists shards and reads them (packages/kinesis Shards and Consumer); the stack creates the lease tables.
    const streamRead = ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    expect(sorted(task.get("OrdersStream"))).toEqual(streamRead)
    expect(sorted(task.get("ProductStream"))).toEqual(streamRead)
    expect(sorted(task.get("AggregateTable"))).toEqual(dynamoActionsOf("DynamoStore.ts"))
    expect(sorted(task.get("DedupTable"))).toEqual(dynamoActionsOf("DynamoDeduper.ts"))
    const leases = dynamoActionsOf("DynamoLeases.ts", ["CreateTable", "DescribeTable"])
    expect(sorted(task.get("OrdersLeaseTable"))).toEqual(leases)
    expect(sorted(task.get("ProductLeaseTable"))).toEqual(leases)
    expect(sorted(task.get("DeadLetterQueue"))).toEqual(["sqs:SendMessage"])
    expect(task.size).toBe(7)
    const execution = grants("TaskExecutionRole")
    expect(sorted(execution.get("ServiceLogGroup"))).toEqual(["logs:CreateLogStream", "logs:PutLogEvents"])
    expect(execution.size).toBe(3)
  })
})
