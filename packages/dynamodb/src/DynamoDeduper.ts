import { PutItemCommand } from "@aws-sdk/client-dynamodb"
import { type Claim, Deduper, DeduperError } from "@eddy/core/Deduper"
import { Clock, Config, type ConfigError, Duration, Effect, Layer } from "effect"
import * as DynamoClient from "./DynamoClient"
import { call } from "./internal/sdk"
import { attributes } from "./Tables"

export interface Options {
  /** The dedup table (see `Tables.dedupTable`). */
  readonly table: string
  /** Prefix of every claim id: the application, or a pipeline, whose event ids these are. */
  readonly namespace: string
  /** How long a claim is remembered; producer duplicates later than this count again. Default one day. */
  readonly retention?: Duration.DurationInput
  /** Claims sent at once. Default 32. */
  readonly concurrency?: number
}

/**
 * Event-id claims in DynamoDB: one conditional PutItem per claim that succeeds
 * when the id is unclaimed, already held by the same owner (a redelivery), or
 * held by a claim past its retention. DynamoDB's TTL deletes old claims in its
 * own time, so expiry is checked in the condition, not left to TTL.
 * Any failure other than the condition is a `DeduperError`: never "first seen".
 */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const client = yield* DynamoClient.DynamoClient
    const { table, namespace } = options
    const retentionMs = Duration.toMillis(options.retention ?? Duration.days(1))
    const concurrency = options.concurrency ?? 32

    const put = (eventId: string, owner: string, nowSeconds: number, expiresAt: number) =>
      call("PutItem", (signal) =>
        client.send(
          new PutItemCommand({
            TableName: table,
            Item: {
              [attributes.claimId]: { S: `${namespace}#${eventId}` },
              [attributes.owner]: { S: owner },
              [attributes.expiresAt]: { N: String(expiresAt) }
            },
            ConditionExpression: "attribute_not_exists(#id) OR #owner = :owner OR #exp <= :now",
            ExpressionAttributeNames: { "#id": attributes.claimId, "#owner": attributes.owner, "#exp": attributes.expiresAt },
            ExpressionAttributeValues: { ":owner": { S: owner }, ":now": { N: String(nowSeconds) } }
          }),
          { abortSignal: signal }
        )).pipe(
          Effect.as(true),
          Effect.catchIf((e) => e.kind === "condition", () => Effect.succeed(false)),
          Effect.mapError((e) =>
            new DeduperError({
              message: e.name === "ResourceNotFoundException"
                ? `dedup table ${table} does not exist: create it with Tables.ensure or cloudformation.yaml`
                : `claiming event ${eventId} in ${table}: ${e.message}`,
              cause: e.cause
            })
          )
        )

    const claim = (claims: ReadonlyArray<Claim>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const nowSeconds = Math.floor(now / 1000)
        const expiresAt = Math.ceil((now + retentionMs) / 1000)
        const results: Array<boolean> = new Array(claims.length).fill(false)
        // Claims of one event id go in batch order, one at a time, so the earliest record wins deterministically.
        const byEvent = new Map<string, Array<number>>()
        claims.forEach((c, i) => {
          const same = byEvent.get(c.eventId)
          if (same === undefined) byEvent.set(c.eventId, [i])
          else same.push(i)
        })
        return Effect.forEach(byEvent.values(), (indices) => {
          let holder: string | undefined
          return Effect.forEach(indices, (i) => {
            const { eventId, owner } = claims[i]!
            if (holder !== undefined) {
              results[i] = holder === owner
              return Effect.void
            }
            return Effect.map(put(eventId, owner, nowSeconds, expiresAt), (won) => {
              results[i] = won
              if (won) holder = owner
            })
          }, { discard: true })
        }, { concurrency, discard: true }).pipe(Effect.as(results as ReadonlyArray<boolean>))
      })

    return Deduper.of({ claim })
  })

/** Needs a `DynamoClient`. */
export const layer = (options: Options): Layer.Layer<Deduper, never, DynamoClient.DynamoClient> => Layer.effect(Deduper, make(options))

/**
 * Like `layer`, with the options from `config`, e.g. `{ table:
 * Config.string("DEDUP_TABLE"), namespace: Config.string("DEDUP_NAMESPACE") }`.
 * Needs a `DynamoClient`.
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<Deduper, ConfigError.ConfigError, DynamoClient.DynamoClient> => Layer.effect(Deduper, Effect.flatMap(Config.unwrap(config), make))
