import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { expect, layer } from "@effect/vitest"
import * as Deduper from "@eddy/core/Deduper"
import { Clock, Effect, Layer, TestClock } from "effect"
import * as DynamoClient from "../src/DynamoClient"
import * as DynamoDeduper from "../src/DynamoDeduper"
import * as Local from "./support/Local"

const table = "dedup"
const Env = Layer.effectDiscard(Local.ensure({ dedup: table })).pipe(Layer.provideMerge(Local.layer))

layer(Env)("DynamoDeduper", (it) => {
  it.effect("the first claim wins, its owner's retries win again, other owners are duplicates", () =>
    Effect.gen(function*() {
      const dedup = yield* DynamoDeduper.make({ table, namespace: "app" })
      expect(yield* dedup.claim([{ eventId: "e1", owner: "s/1/0" }, { eventId: "e2", owner: "s/2/0" }])).toEqual([true, true])
      expect(yield* dedup.claim([{ eventId: "e1", owner: "s/1/0" }, { eventId: "e2", owner: "s/9/0" }])).toEqual([true, false])
      // Within one batch the earlier record wins, whatever the concurrency.
      expect(yield* dedup.claim([{ eventId: "e3", owner: "s/3/0" }, { eventId: "e3", owner: "s/4/0" }, { eventId: "e3", owner: "s/3/0" }])).toEqual([true, false, true])
      // Namespaces are separate.
      const other = yield* DynamoDeduper.make({ table, namespace: "other" })
      expect(yield* other.claim([{ eventId: "e1", owner: "t/1/0" }])).toEqual([true])
    }))

  it.effect("a reused id with another payload is a conflict naming the holder's hash; the same payload is a duplicate", () =>
    Effect.gen(function*() {
      const dedup = yield* DynamoDeduper.make({ table, namespace: "hash" })
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/1/0", payloadHash: "aa" }])).toEqual([true])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0", payloadHash: "aa" }, { eventId: "e", owner: "s/1/0", payloadHash: "aa" }])).toEqual([false, true])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/3/0", payloadHash: "bb" }])).toEqual([Deduper.conflict("aa")])
      // Within one batch too, against the first claim.
      expect(yield* dedup.claim([{ eventId: "f", owner: "s/4/0", payloadHash: "cc" }, { eventId: "f", owner: "s/5/0", payloadHash: "dd" }])).toEqual([
        true,
        Deduper.conflict("cc")
      ])
    }))

  it.effect("takes the holder from the failed condition when DynamoDB returns it (ALL_OLD), without a read", () =>
    Effect.gen(function*() {
      const real = yield* DynamoClient.DynamoClient
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      let reads = 0
      const client = Local.intercept(real, (command, options, next) => {
        if (command instanceof GetItemCommand) reads++
        if (!(command instanceof PutItemCommand)) return next(command, options)
        return Promise.reject(Object.assign(new Error("The conditional request failed"), {
          name: "ConditionalCheckFailedException",
          $metadata: { httpStatusCode: 400 },
          Item: { id: { S: "old#e" }, owner: { S: "s/1/0" }, payloadHash: { S: "aa" }, expiresAt: { N: String(now + 3600) } }
        }))
      })
      const dedup = yield* DynamoDeduper.make({ table, namespace: "old" }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0", payloadHash: "bb" }, { eventId: "f", owner: "s/3/0", payloadHash: "aa" }])).toEqual([
        Deduper.conflict("aa"),
        false
      ])
      expect(reads).toBe(0)
    }))

  it.effect("a released claim is free for another record; a release by a record that does not hold it changes nothing", () =>
    Effect.gen(function*() {
      const dedup = yield* DynamoDeduper.make({ table, namespace: "release" })
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/1/0", payloadHash: "aa" }])).toEqual([true])
      yield* dedup.release([{ eventId: "e", owner: "s/2/0" }])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0", payloadHash: "aa" }])).toEqual([false])
      yield* dedup.release([{ eventId: "e", owner: "s/1/0" }, { eventId: "never-claimed", owner: "s/1/0" }])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0", payloadHash: "aa" }])).toEqual([true])
    }))

  it.effect("16 concurrent claims of one id by different owners: exactly one wins, and only its retry wins again", () =>
    Effect.gen(function*() {
      const dedup = yield* DynamoDeduper.make({ table, namespace: "race" })
      const owners = Array.from({ length: 16 }, (_, i) => `shard-${i}/100/0`)
      const first = yield* Effect.forEach(owners, (owner) => Effect.map(dedup.claim([{ eventId: "hot", owner }]), ([won]) => won!), { concurrency: 16 })
      expect(first.filter(Boolean)).toHaveLength(1)
      const winner = owners[first.indexOf(true)]!
      const again = yield* Effect.forEach(owners, (owner) => Effect.map(dedup.claim([{ eventId: "hot", owner }]), ([won]) => won!), { concurrency: 16 })
      expect(again).toEqual(owners.map((o) => o === winner))
    }))

  it.effect("a claim past its retention can be taken by another owner; the item carries the TTL", () =>
    Effect.gen(function*() {
      const dedup = yield* DynamoDeduper.make({ table, namespace: "ttl", retention: "1 hour" })
      // The layer's tests share one TestClock; take its time rather than assume zero.
      const now = yield* Clock.currentTimeMillis
      expect(yield* dedup.claim([{ eventId: "old", owner: "a" }])).toEqual([true])
      const client = yield* DynamoClient.DynamoClient
      const item = yield* Effect.promise(() => client.send(new GetItemCommand({ TableName: table, Key: { id: { S: "ttl#old" } } })))
      expect(item.Item?.owner).toEqual({ S: "a" })
      expect(item.Item?.expiresAt).toEqual({ N: String(Math.ceil((now + 3_600_000) / 1000)) })
      yield* TestClock.adjust("59 minutes")
      expect(yield* dedup.claim([{ eventId: "old", owner: "b" }])).toEqual([false])
      // Expiry is kept in whole seconds, rounded up.
      yield* TestClock.adjust("61 seconds")
      expect(yield* dedup.claim([{ eventId: "old", owner: "b" }])).toEqual([true])
      expect(yield* dedup.claim([{ eventId: "old", owner: "a" }])).toEqual([false])
    }))

  it.effect("never fails open: a missing table is the deployment's fault, a throttled claim a retryable DeduperError", () =>
    Effect.gen(function*() {
      const missing = yield* DynamoDeduper.make({ table: "no-such-table", namespace: "x" })
      const noTable = yield* Effect.flip(missing.claim([{ eventId: "e", owner: "a" }]))
      expect(noTable).toMatchObject({ _tag: "DeduperMisconfiguredError", code: "ResourceNotFoundException" })
      expect(noTable.message).toMatch(/does not exist/)
      const real = yield* DynamoClient.DynamoClient
      let calls = 0
      // One claim of the batch is throttled: the whole batch fails rather than reporting it first seen.
      const flaky = Local.intercept(real, (command, options, next) =>
        calls++ === 1 ? Promise.reject(Object.assign(new Error("slow down"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } })) : next(command, options)
      )
      const dedup = yield* DynamoDeduper.make({ table, namespace: "flaky" }).pipe(Effect.provideService(DynamoClient.DynamoClient, flaky))
      const error = yield* Effect.flip(dedup.claim([{ eventId: "e1", owner: "a" }, { eventId: "e2", owner: "a" }, { eventId: "e3", owner: "a" }]))
      expect(error._tag).toBe("DeduperError")
      expect(error.message).toMatch(/ThrottlingException/)
    }))
})
