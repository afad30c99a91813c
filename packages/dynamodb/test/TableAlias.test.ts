/**
 * The reader alias on dynalite: `DynamoStore` reads follow it (after its
 * refresh), writes do not; a switch is a conditional write, so a switch based
 * on a stale read fails instead of overwriting another's; items of the alias
 * are passed over by `AggregateScan`.
 */
import { PutItemCommand } from "@aws-sdk/client-dynamodb"
import { describe, expect, layer } from "@effect/vitest"
import * as Monoid from "@eddy/core/Monoid"
import { Effect, Exit, Layer, Option, Stream } from "effect"
import * as AggregateScan from "../src/AggregateScan"
import * as DynamoClient from "../src/DynamoClient"
import * as DynamoStore from "../src/DynamoStore"
import * as TableAlias from "../src/TableAlias"
import { applyOk, ref, write } from "@eddy/testing/StoreSuite"
import * as Local from "./support/Local"

const Env = Layer.effectDiscard(Effect.all([Local.ensure({ aggregate: "blue" }), Local.ensure({ aggregate: "green" })])).pipe(Layer.provideMerge(Local.layer))

layer(Env, { excludeTestServices: true })("TableAlias", (it) => {
  describe("switching readers", () => {
    it.effect("reads follow the alias once it is switched; writes stay on the configured table", () =>
      Effect.gen(function*() {
        const r = ref("p", "k")
        const blue = yield* DynamoStore.make({ table: "blue", aliasRefresh: 0 })
        const green = yield* DynamoStore.make({ table: "green" })
        yield* applyOk(blue, [write(Monoid.sum, r, "shardId-0", 1, [5])])
        yield* applyOk(green, [write(Monoid.sum, r, "shardId-0", 1, [7])])
        expect(yield* blue.getMany(Monoid.sum, [r])).toEqual([Option.some(5)])
        expect(yield* TableAlias.resolve("blue")).toBe("blue")

        expect(yield* TableAlias.switchTo("blue", "green")).toEqual({ table: "blue", from: "blue", to: "green" })
        expect(yield* TableAlias.resolve("blue")).toBe("green")
        expect(yield* blue.getMany(Monoid.sum, [r])).toEqual([Option.some(7)])
        // A writer configured with blue still writes blue, which its readers no longer read.
        yield* applyOk(blue, [write(Monoid.sum, r, "shardId-0", 2, [1])])
        expect(yield* blue.getMany(Monoid.sum, [r])).toEqual([Option.some(7)])
        const unaliased = yield* DynamoStore.make({ table: "blue", followAlias: false })
        expect(yield* unaliased.getMany(Monoid.sum, [r])).toEqual([Option.some(6)])

        expect(yield* TableAlias.switchTo("blue", "blue")).toEqual({ table: "blue", from: "green", to: "blue" })
        expect(yield* blue.getMany(Monoid.sum, [r])).toEqual([Option.some(6)])
      }))

    it.effect("a switch whose read went stale fails and writes nothing", () =>
      Effect.gen(function*() {
        const client = yield* DynamoClient.DynamoClient
        // Another switch lands between this switch's read and its write.
        let raced = false
        const racing = Local.intercept(client, (command, options, next) => {
          if (command instanceof PutItemCommand && !raced) {
            raced = true
            return next(new PutItemCommand({ TableName: "blue", Item: { ...TableAlias.key, table: { S: "elsewhere" } } }), options).then(() => next(command, options))
          }
          return next(command, options)
        })
        const exit = yield* Effect.exit(TableAlias.switchTo("blue", "green").pipe(Effect.provideService(DynamoClient.DynamoClient, racing)))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("AliasChangedError")
        expect(yield* TableAlias.resolve("blue")).toBe("elsewhere")
        const refused = yield* Effect.flip(TableAlias.switchTo("blue", "missing"))
        expect(refused.message).toContain("there is no table missing to switch to")
        yield* TableAlias.switchTo("blue", "blue")
      }))

    it.effect("a scan passes over the alias and the items of other pipelines", () =>
      Effect.gen(function*() {
        const green = yield* DynamoStore.make({ table: "green" })
        yield* applyOk(green, [write(Monoid.sum, ref("q", "a"), "shardId-0", 1, [3]), write(Monoid.max, ref("other", "a"), "shardId-0", 1, [4])])
        yield* TableAlias.switchTo("green", "blue")
        const items = yield* Stream.runCollect(AggregateScan.scan("green", new Map([["q", Monoid.sum as Monoid.Monoid<unknown>]])))
        expect(Array.from(items)).toEqual([{ pipeline: "q", key: "a", bucket: ref("q", "a").bucket, value: 3 }])
        yield* TableAlias.switchTo("green", "green")
      }))
  })
})
