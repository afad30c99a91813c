import type { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { intercept } from "../../packages/dynamodb/test/support/Local"

/** Requests and capacity units consumed, per DynamoDB operation. */
export interface Usage {
  readonly requests: Map<string, number>
  readonly units: Map<string, number>
}

export const total = (m: ReadonlyMap<string, number>, operations?: ReadonlyArray<string>): number => {
  let n = 0
  for (const [op, v] of m) if (operations === undefined || operations.includes(op)) n += v
  return n
}

/**
 * A client that asks DynamoDB for `ReturnConsumedCapacity: "TOTAL"` on every
 * call and adds up what each operation consumed (dynalite computes it by
 * DynamoDB's rules: one write unit per started KB of the larger of the item
 * before and after the write).
 */
export const metered = (client: DynamoDBClient): { readonly client: DynamoDBClient; readonly usage: Usage } => {
  const usage: Usage = { requests: new Map(), units: new Map() }
  const add = (m: Map<string, number>, op: string, n: number) => m.set(op, (m.get(op) ?? 0) + n)
  return {
    usage,
    client: intercept(client, async (command, options, next) => {
      const op = (command as object).constructor.name.replace(/Command$/, "")
      ;(command as { input: { ReturnConsumedCapacity?: string } }).input.ReturnConsumedCapacity = "TOTAL"
      add(usage.requests, op, 1)
      const out = (await next(command, options)) as { ConsumedCapacity?: { CapacityUnits?: number } | ReadonlyArray<{ CapacityUnits?: number }> }
      const consumed = out.ConsumedCapacity
      add(usage.units, op, Array.isArray(consumed) ? consumed.reduce((n, c) => n + (c.CapacityUnits ?? 0), 0) : (consumed as { CapacityUnits?: number } | undefined)?.CapacityUnits ?? 0)
      return out
    })
  }
}
