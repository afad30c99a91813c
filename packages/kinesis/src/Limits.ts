/**
 * The Kinesis quotas eddy designs against, in one place (Amazon Kinesis Data
 * Streams developer guide, "Quotas and limits").
 */

/** Records in one PutRecords request. */
export const PUT_RECORDS_MAX_RECORDS = 500
/** Bytes in one PutRecords request. Kinesis takes 10 MiB since 2025; eddy stays at the long-standing 5 MiB. */
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024
/** Bytes of one record: its data plus its partition key. */
export const RECORD_MAX_BYTES = 1024 * 1024
/** UTF-16 code units of a partition key (at least one). */
export const PARTITION_KEY_MAX_LENGTH = 256
/** Records one GetRecords call returns at most. */
export const GET_RECORDS_MAX_RECORDS = 10_000
/** GetRecords calls per second on one shard, shared by all its readers. */
export const GET_RECORDS_CALLS_PER_SECOND = 5
/** Records written per second to one shard. */
export const SHARD_WRITE_RECORDS_PER_SECOND = 1_000
/** Bytes written per second to one shard. */
export const SHARD_WRITE_BYTES_PER_SECOND = 1024 * 1024
