/**
 * The IAM actions of the API calls eddy's code makes, one list per component,
 * so that every role grants exactly these on exactly its resources. Each list
 * names the module whose calls it covers; the tests read those modules'
 * `new XCommand(` calls and compare.
 */

/** What a Kinesis event-source mapping does on the function's behalf (polling, no enhanced fan-out). */
export const eventSourceMappingRead = [
  "kinesis:DescribeStream",
  "kinesis:DescribeStreamSummary",
  "kinesis:GetRecords",
  "kinesis:GetShardIterator",
  "kinesis:ListShards"
] as const

/** The service's reads: `Shards.list` (ListShards), `Consumer` (GetShardIterator, GetRecords). */
export const serviceRead = ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"] as const

/** Enhanced fan-out on the stream, `FanOut.register`: the stream's ARN (DescribeStreamSummary) and registering its consumer. */
export const fanOutRegister = ["kinesis:DescribeStreamSummary", "kinesis:RegisterStreamConsumer"] as const

/** Enhanced fan-out on the stream's consumer, `FanOut`: waiting for it to be ACTIVE, and its subscriptions. */
export const fanOutSubscribe = ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"] as const

/** A producer's writes: `Producer` sends PutRecords and lists shards to pace them per shard. */
export const produce = ["kinesis:ListShards", "kinesis:PutRecords"] as const

/** `DynamoStore`: BatchGetItem to prefetch and read, GetItem to catch up a watermark, UpdateItem to write. */
export const store = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"] as const

/** `DynamoStore` under "partitionKey" ordering: its TransactWriteItems put a claim per record beside each update, so PutItem too. */
export const storeClaims = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"] as const

/** `DynamoDeduper`: a conditional PutItem per claim, GetItem to read a conflicting holder, a conditional DeleteItem to release. */
export const deduper = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"] as const

/** `DynamoLeases` on a table the stack creates: Scans when the table changed, conditional puts, updates and deletes (finished leases), reads of one lease and of the change counter. */
export const leases = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem"] as const

/** The SQS dead-letter sink (SendMessageBatch is authorised as SendMessage), and a mapping's on-failure records. */
export const sendMessage = ["sqs:SendMessage"] as const

/** Writing to a log group that exists (so no CreateLogGroup). */
export const writeLogs = ["logs:CreateLogStream", "logs:PutLogEvents"] as const

/** `Tables.ensure` describes a table and its TTL before it would create or change anything. */
export const ensureDescribe = ["dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive"] as const
