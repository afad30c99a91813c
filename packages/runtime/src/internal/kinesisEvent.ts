import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Kpl from "@eddy/kinesis/Kpl"
import type { KinesisStreamEvent } from "aws-lambda"
import { Data, Either } from "effect"

/** The event is not what a Kinesis event-source mapping sends: a record lacks its position. */
export class MalformedEventError extends Data.TaggedError("MalformedEventError")<{ readonly message: string }> {}

/** The user records of one Lambda Kinesis event, in event order. */
export interface Batch {
  readonly records: ReadonlyArray<SourceRecord>
  /** The event source ARN of each user record. */
  readonly sources: ReadonlyArray<string | undefined>
  /** Newest approximate arrival time in the event, epoch milliseconds. */
  readonly newestArrival: number
}

/**
 * Decodes the base64 data of each record and deaggregates KPL records: every
 * user record of an aggregate keeps the aggregate's sequence number, numbered
 * by its index as sub-sequence number. An aggregate that cannot be unpacked
 * becomes one record marked `unreadable`, which the processor dead-letters.
 * Synchronous, one pass: no Effect per record.
 *
 * Throws `MalformedEventError` for a record without sequence number or shard
 * (in `eventID`, `shardId:sequenceNumber`): it cannot be placed in its shard.
 */
export const fromEvent = (event: KinesisStreamEvent): Batch => {
  const records: Array<SourceRecord> = []
  const sources: Array<string | undefined> = []
  let newestArrival = 0
  for (const r of event.Records) {
    const { sequenceNumber, partitionKey } = r.kinesis
    const colon = r.eventID?.indexOf(":") ?? -1
    if (!sequenceNumber || colon <= 0) {
      throw new MalformedEventError({
        message: `a Kinesis record needs a sequence number and an eventID of the form shardId:sequenceNumber, got eventID ${JSON.stringify(r.eventID)}`
      })
    }
    const shardId = r.eventID.slice(0, colon)
    const arrivalTime = Math.round(r.kinesis.approximateArrivalTimestamp * 1000)
    if (arrivalTime > newestArrival) newestArrival = arrivalTime
    const data = Buffer.from(r.kinesis.data, "base64")
    // Object literals, not spreads: this runs for every record and a spread costs several times more.
    if (!Kpl.isAggregated(data)) {
      records.push({ data, partitionKey, shardId, sequenceNumber, subSequenceNumber: 0, arrivalTime })
      sources.push(r.eventSourceARN)
      continue
    }
    const users = Kpl.deaggregate(data, partitionKey)
    if (Either.isLeft(users)) {
      const unreadable = { error: users.left._tag, reason: users.left.message }
      records.push({ data, partitionKey, shardId, sequenceNumber, subSequenceNumber: 0, arrivalTime, unreadable })
      sources.push(r.eventSourceARN)
      continue
    }
    users.right.forEach((user, subSequenceNumber) => {
      records.push({ data: user.data, partitionKey: user.partitionKey, shardId, sequenceNumber, subSequenceNumber, arrivalTime })
      sources.push(r.eventSourceARN)
    })
  }
  return { records, sources, newestArrival }
}

/** `orders` from `arn:aws:kinesis:eu-west-1:123456789012:stream/orders`. */
export const streamName = (arn: string | undefined): string => {
  if (arn === undefined) return "unknown"
  const slash = arn.lastIndexOf("stream/")
  return slash < 0 ? arn : arn.slice(slash + "stream/".length)
}
