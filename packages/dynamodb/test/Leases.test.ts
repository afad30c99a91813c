import { GetItemCommand } from "@aws-sdk/client-dynamodb"
import { LeaseStoreError } from "@eddy/core/Leases"
import { describe, expect, it } from "@effect/vitest"
import { Dynalite } from "@eddy/local"
import { Effect } from "effect"
import { leasesSuite } from "@eddy/testing/LeasesSuite"
import * as DynamoClient from "../src/DynamoClient"
import * as DynamoLeases from "../src/DynamoLeases"

leasesSuite({
  name: "DynamoDB lease table on dynalite",
  it: it.scopedLive,
  make: (options) =>
    Effect.gen(function*() {
      const { endpoint } = yield* Dynalite.start()
      const client = yield* DynamoClient.make({ endpoint })
      return yield* DynamoLeases.createTable("app-leases").pipe(
        Effect.zipRight(DynamoLeases.make({ ...options, tableName: "app-leases" })),
        Effect.provideService(DynamoClient.DynamoClient, client)
      )
    }),
  elapse: Effect.sleep,
  failoverTime: "450 millis"
})

describe("DynamoLeases table", () => {
  it.scopedLive("stores KCL's attribute names and types, and creating the table twice is harmless", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Dynalite.start()
      const client = yield* DynamoClient.make({ endpoint })
      yield* Effect.gen(function*() {
        yield* DynamoLeases.createTable("app-leases")
        yield* DynamoLeases.createTable("app-leases")
        const leases = yield* DynamoLeases.make({ tableName: "app-leases" })
        yield* leases.createLeases([{ leaseKey: "shardId-1" }, { leaseKey: "shardId-2", parentShardIds: ["shardId-1", "shardId-0"] }])
        const w = yield* leases.worker("worker-1")
        const [held] = yield* w.round
        yield* w.checkpoint(held!, { sequenceNumber: "49590338271490256608559692538361571095921575989136588898", subSequenceNumber: 3 })
        const item = (key: string) =>
          Effect.promise(() => client.send(new GetItemCommand({ TableName: "app-leases", Key: { leaseKey: { S: key } } }))).pipe(Effect.map((out) => out.Item))
        expect(yield* item("shardId-1")).toEqual({
          leaseKey: { S: "shardId-1" },
          leaseOwner: { S: "worker-1" },
          leaseCounter: { N: "2" },
          checkpoint: { S: "49590338271490256608559692538361571095921575989136588898" },
          checkpointSubSequenceNumber: { N: "3" },
          ownerSwitchesSinceCheckpoint: { N: "0" }
        })
        const child = yield* item("shardId-2")
        expect(child?.parentShardId?.SS?.slice().sort()).toEqual(["shardId-0", "shardId-1"])
        expect(child?.leaseOwner).toBeUndefined()
        expect(child?.checkpoint).toEqual({ S: "TRIM_HORIZON" })
      }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
    }))

  it.scopedLive("a missing table is a LeaseStoreError that says how to create it", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Dynalite.start()
      const client = yield* DynamoClient.make({ endpoint })
      const leases = yield* DynamoLeases.make({ tableName: "nowhere" }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      const error = yield* Effect.flip(leases.list)
      expect(error).toBeInstanceOf(LeaseStoreError)
      expect(error.message).toMatch(/lease table nowhere does not exist: create it with DynamoLeases.createTable/)
    }))
})
