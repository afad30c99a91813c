import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kinesalite } from "@eddy/local"
import * as Kinesis from "../src/Kinesis"

describe("Kinesis client", () => {
  it.scoped("talks to a local Kinesis and maps its exceptions to typed errors", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Kinesis.make({ endpoint })
      yield* kinesis.createStream({ StreamName: "s", ShardCount: 2 })
      const shards = yield* kinesis.listShards({ StreamName: "s" })
      expect(shards.Shards?.length).toBe(2)
      const missing = yield* Effect.flip(kinesis.listShards({ StreamName: "nope" }))
      expect(missing._tag).toBe("KinesisNotFoundError")
      expect(Kinesis.isRetryable(missing)).toBe(false)
    }))

  it("classifies throttling and server faults as retryable", () => {
    const throttled = Kinesis.fromSdkError("putRecords", Object.assign(new Error("slow down"), { name: "ProvisionedThroughputExceededException" }))
    expect(throttled._tag).toBe("KinesisThrottledError")
    expect(Kinesis.isRetryable(throttled)).toBe(true)
    const fault = Kinesis.fromSdkError("getRecords", Object.assign(new Error("boom"), { name: "InternalFailure", $metadata: { httpStatusCode: 500 } }))
    expect(fault._tag).toBe("KinesisUnavailableError")
    const invalid = Kinesis.fromSdkError("putRecords", Object.assign(new Error("bad"), { name: "InvalidArgumentException", $metadata: { httpStatusCode: 400 } }))
    expect(Kinesis.isRetryable(invalid)).toBe(false)
  })
})
