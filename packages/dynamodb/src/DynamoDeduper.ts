import { type AttributeValue, DeleteItemCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { type Claim, type ClaimResult, decide, Deduper, DeduperError, DeduperMisconfiguredError } from "@eddy/core/Deduper"
import { Clock, Config, type ConfigError, Duration, Effect, Layer } from "effect"
import * as DynamoClient from "./DynamoClient"
import { call, remedy, type SdkFailure } from "./internal/sdk"
import { attributes } from "./Tables"

/** The claim's payload hash (see `Deduper.Claim`). */
const payloadHashAttribute = "payloadHash"

/** The dedup table, the namespace of claim ids and how long claims are kept. */
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
 * When it is held by another record, the stored payload hash tells a
 * duplicate from a reused id (`Conflict`). Any other failure is an error,
 * never "first seen": `DeduperError` when retryable, `DeduperMisconfiguredError`
 * when DynamoDB refuses the request (a missing table, access denied).
 */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const client = yield* DynamoClient.DynamoClient
    const { table, namespace } = options
    const retentionMs = Duration.toMillis(options.retention ?? Duration.days(1))
    const concurrency = options.concurrency ?? 32

    /** Transient faults are retryable; a refused request is the deployment's fault (a missing table, access denied). */
    const toDeduperError = (what: string) => (e: SdkFailure | DeduperError) =>
      e._tag === "DeduperError" ? e : e.kind === "rejected"
        ? new DeduperMisconfiguredError({ code: e.name, message: `${what}: ${remedy(e, table, "dynamodb:PutItem, GetItem and DeleteItem")}`, cause: e.cause })
        : new DeduperError({ message: `${what} in ${table}: ${e.message}`, cause: e.cause })

    const idOf = (eventId: string): AttributeValue => ({ S: `${namespace}#${eventId}` })

    /** The holder of a claim whose condition failed: from the failure (`ALL_OLD`), else read. */
    const holderOf = (eventId: string, failure: SdkFailure, nowSeconds: number) => {
      const old = (failure.cause as { Item?: Record<string, AttributeValue> } | undefined)?.Item
      const read = old !== undefined ? Effect.succeed(old) : call("GetItem", (signal) =>
        client.send(new GetItemCommand({ TableName: table, Key: { [attributes.claimId]: idOf(eventId) }, ConsistentRead: true }), { abortSignal: signal })).pipe(
          Effect.map((out) => out.Item)
        )
      return Effect.flatMap(read, (item) =>
        item === undefined || Number(item[attributes.expiresAt]?.N ?? 0) <= nowSeconds
          // Released or expired since the condition was checked: the batch is tried again.
          ? Effect.fail(new DeduperError({ message: `the claim of event ${eventId} changed while it was checked; retry the batch` }))
          : Effect.succeed({ owner: item[attributes.owner]?.S ?? "", payloadHash: item[payloadHashAttribute]?.S }))
    }

    const put = (claim: Claim, nowSeconds: number, expiresAt: number): Effect.Effect<ClaimResult, DeduperError | DeduperMisconfiguredError> =>
      call("PutItem", (signal) =>
        client.send(
          new PutItemCommand({
            TableName: table,
            Item: {
              [attributes.claimId]: idOf(claim.eventId),
              [attributes.owner]: { S: claim.owner },
              [attributes.expiresAt]: { N: String(expiresAt) },
              ...(claim.payloadHash === undefined ? {} : { [payloadHashAttribute]: { S: claim.payloadHash } })
            },
            ConditionExpression: "attribute_not_exists(#id) OR #owner = :owner OR #exp <= :now",
            ExpressionAttributeNames: { "#id": attributes.claimId, "#owner": attributes.owner, "#exp": attributes.expiresAt },
            ExpressionAttributeValues: { ":owner": { S: claim.owner }, ":now": { N: String(nowSeconds) } },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD"
          }),
          { abortSignal: signal }
        )).pipe(
          Effect.as<ClaimResult>(true),
          Effect.catchIf((e) => e.kind === "condition", (e) => Effect.map(holderOf(claim.eventId, e, nowSeconds), (held) => decide(held, claim))),
          Effect.mapError(toDeduperError(`claiming event ${claim.eventId}`))
        )

    /** Deletes a claim while its owner holds it; a claim taken over since is left alone. */
    const releaseOne = ({ eventId, owner }: Claim) =>
      call("DeleteItem", (signal) =>
        client.send(
          new DeleteItemCommand({
            TableName: table,
            Key: { [attributes.claimId]: idOf(eventId) },
            ConditionExpression: "#owner = :owner",
            ExpressionAttributeNames: { "#owner": attributes.owner },
            ExpressionAttributeValues: { ":owner": { S: owner } }
          }),
          { abortSignal: signal }
        )).pipe(
          Effect.asVoid,
          Effect.catchIf((e) => e.kind === "condition", () => Effect.void),
          Effect.mapError(toDeduperError(`releasing event ${eventId}`))
        )

    const release = (claims: ReadonlyArray<Claim>) => Effect.forEach(claims, releaseOne, { concurrency, discard: true })

    const claim = (claims: ReadonlyArray<Claim>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const nowSeconds = Math.floor(now / 1000)
        const expiresAt = Math.ceil((now + retentionMs) / 1000)
        const results: Array<ClaimResult> = new Array(claims.length).fill(false)
        // Claims of one event id go in batch order, one at a time, so the earliest record wins deterministically.
        const byEvent = new Map<string, Array<number>>()
        claims.forEach((c, i) => {
          const same = byEvent.get(c.eventId)
          if (same === undefined) byEvent.set(c.eventId, [i])
          else same.push(i)
        })
        return Effect.forEach(byEvent.values(), (indices) => {
          let holder: Claim | undefined
          return Effect.forEach(indices, (i) => {
            const claim = claims[i]!
            if (holder !== undefined) {
              results[i] = decide(holder, claim)
              return Effect.void
            }
            return Effect.map(put(claim, nowSeconds, expiresAt), (won) => {
              results[i] = won
              if (won === true) holder = claim
            })
          }, { discard: true })
        }, { concurrency, discard: true }).pipe(Effect.as(results as ReadonlyArray<ClaimResult>))
      })

    return Deduper.of({ claim, release })
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
