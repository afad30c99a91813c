import type { ChainableCommander, Redis } from "ioredis"

export type ScriptArg = string | number

/**
 * Defines a Lua script on the client and returns a caller for the client or a
 * pipeline. ioredis sends the script with EVAL the first time on each
 * connection and EVALSHA after, so scripts survive a server restart.
 */
export const defineScript = (redis: Redis, name: string, numberOfKeys: number | undefined, lua: string) => {
  // Without `numberOfKeys` the first argument of each call says how many keys follow.
  if (!(name in redis)) redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua })
  return {
    call: (...args: ReadonlyArray<ScriptArg>): Promise<unknown> => (redis as unknown as Record<string, (...a: ReadonlyArray<ScriptArg>) => Promise<unknown>>)[name]!(...args),
    queue: (pipeline: ChainableCommander, ...args: ReadonlyArray<ScriptArg>): void => {
      ;(pipeline as unknown as Record<string, (...a: ReadonlyArray<ScriptArg>) => unknown>)[name]!(...args)
    }
  }
}

/** Results of `pipeline.exec()`: the first error, or the replies in order. */
export const replies = (results: Array<[error: Error | null, result: unknown]> | null): ReadonlyArray<unknown> => {
  if (results === null) throw new Error("the pipeline was discarded")
  for (const [error] of results) if (error !== null) throw error
  return results.map(([, result]) => result)
}

/** The code an error reply starts with (RESP), e.g. `NOAUTH`; empty for errors that are not replies (a lost connection). */
export const replyCode = (cause: unknown): string => {
  const reply = cause as { name?: string; message?: string } | undefined
  return reply?.name === "ReplyError" ? (reply.message ?? "").split(" ", 1)[0]! : ""
}

/** Replies that say the deployment is wrong (authentication, ACL permissions): retrying cannot help. */
export const misconfiguredCodes: ReadonlySet<string> = new Set(["NOAUTH", "WRONGPASS", "NOPERM"])
