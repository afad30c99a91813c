import { CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as DynamoClient from "../src/DynamoClient"
import * as DynamoLeases from "../src/DynamoLeases"
import * as Tables from "../src/Tables"
import { advanceUntilDone } from "./support/Clock"
import * as Local from "./support/Local"

/** What DynamoDB answers a role that may not create tables. */
const createTableDenied = () =>
  Promise.reject(Object.assign(new Error("not authorized to perform dynamodb:CreateTable"), { name: "AccessDeniedException", $metadata: { httpStatusCode: 400 } }))

layer(Local.layer)("Tables", (it) => {
  it.effect("ensure creates both tables with their key schemas and TTL on expiresAt, and is idempotent", () =>
    Effect.gen(function*() {
      const client = yield* DynamoClient.DynamoClient
      yield* Local.ensure({ aggregate: "app-aggregates", dedup: "app-dedup" })
      yield* Local.ensure({ aggregate: "app-aggregates", dedup: "app-dedup" })
      const aggregate = yield* Effect.promise(() => client.send(new DescribeTableCommand({ TableName: "app-aggregates" })))
      expect(aggregate.Table?.KeySchema).toEqual([{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }])
      expect(aggregate.Table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST")
      const dedup = yield* Effect.promise(() => client.send(new DescribeTableCommand({ TableName: "app-dedup" })))
      expect(dedup.Table?.KeySchema).toEqual([{ AttributeName: "id", KeyType: "HASH" }])
      expect(Local.timeToLive.get("app-aggregates")).toEqual({ attribute: "expiresAt", enabled: true })
      expect(Local.timeToLive.get("app-dedup")).toEqual({ attribute: "expiresAt", enabled: true })
    }))

  it.scoped("on an emulator without UpdateTimeToLive, ensure still creates the tables", () =>
    Effect.gen(function*() {
      const client = yield* Local.raw
      yield* Local.ensure({ aggregate: "bare" }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      const bare = yield* Effect.promise(() => client.send(new DescribeTableCommand({ TableName: "bare" })))
      expect(bare.Table?.TableStatus).toBe("ACTIVE")
    }))

  it.effect("waits for a table being created, and needs no CreateTable permission once it exists", () =>
    Effect.gen(function*() {
      const real = yield* DynamoClient.DynamoClient
      let describes = 0
      let creates = 0
      // A table that reports CREATING for its first three descriptions, behind a role that may not create tables.
      const client = Local.intercept(real, (command, options, next) => {
        if (command instanceof CreateTableCommand) {
          creates++
          return createTableDenied()
        }
        if (!(command instanceof DescribeTableCommand)) return next(command, options)
        return next(command, options).then((out) => {
          const o = out as { Table: object }
          return ++describes <= 3 ? { ...o, Table: { ...o.Table, TableStatus: "CREATING" } } : out
        })
      })
      yield* Local.ensure({ dedup: "made-elsewhere" })
      describes = 0
      yield* advanceUntilDone(Tables.ensure({ dedup: "made-elsewhere" }).pipe(Effect.provideService(DynamoClient.DynamoClient, client)), "100 millis")
      expect(describes).toBe(4)
      expect(creates).toBe(0)
      const denied = yield* Effect.flip(Tables.ensure({ dedup: "not-made" }).pipe(Effect.provideService(DynamoClient.DynamoClient, client)))
      expect(denied.message).toMatch(/allow dynamodb:CreateTable, or create it from cloudformation.yaml/)
    }))

  it.effect("the lease table gets no TTL, and once it exists needs no CreateTable permission", () =>
    Effect.gen(function*() {
      const real = yield* DynamoClient.DynamoClient
      const { calls: creates, client } = yield* Local.interceptEach(CreateTableCommand, createTableDenied)
      yield* advanceUntilDone(DynamoLeases.createTable("app-leases").pipe(Effect.provideService(DynamoClient.DynamoClient, real)), "100 millis")
      expect(Local.timeToLive.has("app-leases")).toBe(false)
      yield* advanceUntilDone(DynamoLeases.createTable("app-leases").pipe(Effect.provideService(DynamoClient.DynamoClient, client)), "100 millis")
      expect(creates()).toBe(0)
      const denied = yield* Effect.flip(DynamoLeases.createTable("leases-not-made").pipe(Effect.provideService(DynamoClient.DynamoClient, client)))
      expect(creates()).toBe(1)
      expect(denied._tag).toBe("LeaseTableError")
      expect(denied.message).toMatch(/allow dynamodb:CreateTable/)
    }))

  it.effect("refuses an existing table with another key schema", () =>
    Effect.gen(function*() {
      const client = yield* DynamoClient.DynamoClient
      yield* Effect.promise(() =>
        client.send(
          new CreateTableCommand({
            TableName: "taken",
            KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
            AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
            BillingMode: "PAY_PER_REQUEST"
          })
        )
      )
      const error = yield* Effect.flip(Local.ensure({ aggregate: "taken" }))
      expect(error._tag).toBe("TableError")
      expect(error.message).toMatch(/exists with key schema .* use another table name/)
    }))
})
