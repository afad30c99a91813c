import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as Kpl from "../src/Kpl"
import * as UserRecords from "../src/UserRecords"

const text = (s: string) => new TextEncoder().encode(s)
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")

const lambdaRecord = (shardId: string, sequenceNumber: string, data: Uint8Array, partitionKey = "pk") => ({
  eventID: `${shardId}:${sequenceNumber}`,
  eventSourceARN: "arn:aws:kinesis:eu-west-1:123456789012:stream/orders",
  kinesis: { data: base64(data), partitionKey, sequenceNumber, approximateArrivalTimestamp: 1_700_000_000.25 }
})

const aggregate = (...users: ReadonlyArray<string>) => Kpl.aggregate(users.map((u, i) => ({ data: text(u), partitionKey: `k${i}` })))

describe("UserRecords", () => {
  it("unpacks a Lambda event: plain records as they are, KPL aggregates into user records numbered by sub-sequence", () => {
    const batch = UserRecords.fromLambdaEvent({
      Records: [lambdaRecord("shardId-0", "1", text("a")), lambdaRecord("shardId-0", "2", aggregate("b", "c")), lambdaRecord("shardId-1", "3", text("d"))]
    })
    expect(batch.records.map((r) => [r.shardId, r.sequenceNumber, r.subSequenceNumber, new TextDecoder().decode(r.data), r.partitionKey])).toEqual([
      ["shardId-0", "1", 0, "a", "pk"],
      ["shardId-0", "2", 0, "b", "k0"],
      ["shardId-0", "2", 1, "c", "k1"],
      ["shardId-1", "3", 0, "d", "pk"]
    ])
    expect(batch.sources).toHaveLength(4)
    expect(batch.newestArrival).toBe(1_700_000_000_250)
  })

  it("takes each record's shard from its own eventID, also where one shard id is a prefix of the next", () => {
    const batch = UserRecords.fromLambdaEvent({
      Records: [lambdaRecord("shardId-1", "1", text("a")), lambdaRecord("shardId-1", "2", text("b")), lambdaRecord("shardId-10", "3", text("c")), lambdaRecord("shardId-1", "4", text("d"))]
    })
    expect(batch.records.map((r) => r.shardId)).toEqual(["shardId-1", "shardId-1", "shardId-10", "shardId-1"])
  })

  it("reads GetRecords pages the same way, skipping user records up to a checkpoint inside an aggregate", () => {
    const page = [
      { Data: aggregate("b", "c", "d"), PartitionKey: "pk", SequenceNumber: "2", ApproximateArrivalTimestamp: new Date(5) },
      { Data: text("e"), PartitionKey: "pk", SequenceNumber: "3" }
    ]
    const records = UserRecords.fromGetRecords(page, "shardId-0", { sequenceNumber: "2", subSequenceNumber: 0 })
    expect(records.map((r) => [r.sequenceNumber, r.subSequenceNumber, r.arrivalTime])).toEqual([["2", 1, 5], ["2", 2, 5], ["3", 0, 0]])
  })

  it("keeps a corrupt aggregate whole as unreadable, so it is dead-lettered rather than lost", () => {
    const corrupt = aggregate("b", "c")
    corrupt[corrupt.length - 1] ^= 0xff
    expect(Either.isLeft(Kpl.deaggregate(corrupt, "pk"))).toBe(true)
    const [record] = UserRecords.fromLambdaEvent({ Records: [lambdaRecord("shardId-0", "1", corrupt)] }).records
    expect(record!.unreadable?.error).toBeDefined()
    expect(Buffer.from(record!.data).equals(Buffer.from(corrupt))).toBe(true)
  })

  it("fails with a typed error naming the record for an event it cannot place, before reading any record", () => {
    const good = lambdaRecord("shardId-0", "1", text("a"))
    const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
      [{}, /no Records list/],
      [{ Records: [good, { ...good, eventID: "1" }] }, /record 1 cannot be placed/],
      [{ Records: [good, { ...good, kinesis: { ...good.kinesis, sequenceNumber: undefined } }] }, /record 1 cannot be placed/]
    ]
    for (const [event, message] of cases) {
      const error = (() => {
        try {
          UserRecords.fromLambdaEvent(event as UserRecords.LambdaEvent)
        } catch (e) {
          return e
        }
      })()
      expect(error).toBeInstanceOf(UserRecords.MalformedEventError)
      expect((error as Error).message).toMatch(message)
    }
  })

  it("marks a placed record without data or partition key unreadable, and its neighbours are read", () => {
    const good = lambdaRecord("shardId-0", "1", text("a"))
    const noKey = { ...lambdaRecord("shardId-0", "2", text("b")), kinesis: { ...lambdaRecord("shardId-0", "2", text("b")).kinesis, partitionKey: undefined } }
    const noData = { ...lambdaRecord("shardId-0", "3", text("c")), kinesis: { ...lambdaRecord("shardId-0", "3", text("c")).kinesis, data: undefined } }
    const batch = UserRecords.fromLambdaEvent({ Records: [good, noKey, noData, lambdaRecord("shardId-0", "4", text("d"))] } as unknown as UserRecords.LambdaEvent)
    expect(batch.records.map((r) => [r.sequenceNumber, r.unreadable?.reason])).toEqual([
      ["1", undefined],
      ["2", "the record has no kinesis.partitionKey"],
      ["3", "the record has no kinesis.data (base64 text)"],
      ["4", undefined]
    ])
  })

  it("reports no arrival time rather than the epoch when records carry none", () => {
    const record = lambdaRecord("shardId-0", "1", text("a"))
    const batch = UserRecords.fromLambdaEvent({ Records: [{ ...record, kinesis: { ...record.kinesis, approximateArrivalTimestamp: undefined } }] } as unknown as UserRecords.LambdaEvent)
    expect(batch.newestArrival).toBeUndefined()
  })
})
