import { type DynamoDBClient, DescribeTimeToLiveCommand, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb"
import { Dynalite } from "@eddy/local"
import { Effect, Layer, Schedule } from "effect"
import * as DynamoClient from "../../src/DynamoClient"
import * as Tables from "../../src/Tables"

/** The SDK's `send`, as a wrapper sees it. */
export type Send = (command: unknown, options?: { abortSignal?: AbortSignal }) => Promise<unknown>

/** A client whose `send` goes through `around`; everything else is the real client. */
export const intercept = (client: DynamoDBClient, around: (command: unknown, options: { abortSignal?: AbortSignal } | undefined, next: Send) => Promise<unknown>): DynamoDBClient => {
  const next: Send = (command, options) => client.send(command as Parameters<DynamoDBClient["send"]>[0], options ?? {})
  return new Proxy(client, {
    get: (target, property, receiver) =>
      property === "send"
        ? (command: unknown, options?: { abortSignal?: AbortSignal }) => around(command, options, next)
        : Reflect.get(target, property, receiver)
  })
}

/**
 * The context's client with every `Command` answered by `answer` (which may
 * pass a command on to the real client with `next`) and every other command
 * reaching the real client; `calls()` counts the commands `answer` got.
 */
export const interceptEach = <C extends object>(
  Command: abstract new(...args: never) => C,
  answer: (command: C, next: (command: C) => Promise<unknown>) => Promise<unknown>
) =>
  Effect.map(DynamoClient.DynamoClient, (real) => {
    let calls = 0
    const client = intercept(real, (command, options, next) => {
      if (!(command instanceof Command)) return next(command, options)
      calls++
      return answer(command, (c) => next(c, options))
    })
    return { client, calls: () => calls }
  })

/** TTL settings by table, as the TTL stand-in recorded them. */
export const timeToLive = new Map<string, { readonly attribute: string; readonly enabled: boolean }>()

/**
 * dynalite has no UpdateTimeToLive (and always describes TTL as disabled), so
 * these two operations are answered here, per table; all others reach dynalite.
 */
const withTimeToLive = (client: DynamoDBClient) =>
  intercept(client, (command, options, next) => {
    if (command instanceof UpdateTimeToLiveCommand) {
      const spec = command.input.TimeToLiveSpecification!
      timeToLive.set(command.input.TableName!, { attribute: spec.AttributeName!, enabled: spec.Enabled! })
      return Promise.resolve({ TimeToLiveSpecification: spec })
    }
    if (command instanceof DescribeTimeToLiveCommand) {
      return next(command, options).then(() => {
        const ttl = timeToLive.get(command.input.TableName!)
        return { TimeToLiveDescription: ttl?.enabled ? { TimeToLiveStatus: "ENABLED", AttributeName: ttl.attribute } : { TimeToLiveStatus: "DISABLED" } }
      })
    }
    return next(command, options)
  })

/** The raw client on an in-process dynalite, without the TTL stand-in. */
export const raw = Effect.flatMap(Dynalite.start(), ({ endpoint }) => DynamoClient.make({ endpoint }))

/** A `DynamoClient` on an in-process dynalite, started and stopped with the layer. */
export const layer: Layer.Layer<DynamoClient.DynamoClient, Error> = Layer.scoped(DynamoClient.DynamoClient, Effect.map(raw, withTimeToLive))

/**
 * `Tables.ensure` for tests: dynalite turns a new table ACTIVE within a turn
 * of its event loop, so the wait polls again at once instead of sleeping on
 * a TestClock that no one advances.
 */
export const ensure = (names: Tables.Names) => Tables.ensure(names, { activeSchedule: Schedule.recurs(100) })
