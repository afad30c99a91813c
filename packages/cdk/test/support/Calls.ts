/**
 * The AWS calls eddy's code makes, read from its source as IAM actions: the
 * construct and template tests grant exactly these, so a new call without
 * its grant fails them. Paths are from the repository root.
 */
import { readFileSync } from "node:fs"

const source = (path: string) => readFileSync(new URL(`../../../../${path}`, import.meta.url), "utf8")

/** Each once, sorted. */
export const unique = (xs: Iterable<string>) => Array.from(new Set(xs)).sort()

/** The SDK commands a module sends (`new XCommand(`), as IAM actions of `service`. */
export const commandsOf = (service: string, path: string, except: ReadonlyArray<string> = []) =>
  unique(Array.from(source(path).matchAll(/new (\w+)Command\(/g), (m) => m[1]!).filter((op) => !except.includes(op)).map((op) => `${service}:${op}`))

/** The Kinesis operations a module calls on the `Kinesis` service (`kinesis.listShards(`), as IAM actions. */
export const kinesisCallsOf = (...paths: ReadonlyArray<string>) =>
  unique(paths.flatMap((p) => Array.from(source(p).matchAll(/kinesis\.(\w+)\(/g), (m) => `kinesis:${m[1]![0]!.toUpperCase()}${m[1]!.slice(1)}`)))

/** What the DynamoDB store does on its table under the "shard" ordering: no transactions. */
export const store = commandsOf("dynamodb", "packages/dynamodb/src/DynamoStore.ts", ["TransactWriteItems"])
/** Under the "partitionKey" ordering: TransactWriteItems too, which IAM authorises as its puts (the claims) and updates. */
export const storeClaims = unique([...store, "dynamodb:PutItem", "dynamodb:UpdateItem"])
/** What the DynamoDB deduper does on its table. */
export const deduper = commandsOf("dynamodb", "packages/dynamodb/src/DynamoDeduper.ts")
/** What the service's leases do on their table: the stacks create it, so the service never creates or describes it (state.ts: ensure off). */
export const leases = commandsOf("dynamodb", "packages/dynamodb/src/DynamoLeases.ts", ["CreateTable", "DescribeTable"])
/** What the SQS dead-letter sink does on its queue; SendMessageBatch is authorised as sqs:SendMessage. */
export const deadLetters = unique(commandsOf("sqs", "packages/runtime/src/DeadLetterSinks.ts").map((a) => a.replace(/Batch$/, "")))
/** What the service's consumer does on its stream: read the shards and list them. */
export const consume = kinesisCallsOf("packages/kinesis/src/Consumer.ts", "packages/kinesis/src/ShardReader.ts", "packages/kinesis/src/Shards.ts")
/** What the producer does on its streams. */
export const produce = kinesisCallsOf("packages/kinesis/src/Producer.ts", "packages/kinesis/src/internal/dispatcher.ts", "packages/kinesis/src/Shards.ts")
