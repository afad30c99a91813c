#!/usr/bin/env node
/**
 * The `eddy` process: exit code 0 when the command did its work, 1 when it
 * failed (one plain message on stderr, no stack trace), 2 for a usage error
 * (the message and the command's usage, as `@effect/cli` prints them).
 */
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import * as Cli from "./Cli"

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" && error.message !== ""
    ? error.message
    : String(error)

const exitCodeOf = (error: unknown): number =>
  ValidationError.isValidationError(error) || (typeof error === "object" && error !== null && (error as { _tag?: string })._tag === "UsageError") ? 2 : 1

/** Edit distance, for suggesting a command name close to a mistyped one. */
const distance = (a: string, b: string): number => {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)))
    row = next
  }
  return row[b.length]!
}

/** @effect/cli suggests options; for a mistyped command, suggest the closest one. */
const suggestCommand = (word: string | undefined): string | undefined => {
  if (word === undefined || word.startsWith("-") || Cli.commands.includes(word)) return undefined
  const best = [...Cli.commands].sort((x, y) => distance(word, x) - distance(word, y))[0]!
  return distance(word, best) <= 2 ? `Did you mean '${best}'?` : undefined
}

const program = Effect.suspend(() => Cli.run(process.argv)).pipe(
  Effect.catchAllCause((cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.void
    const failure = Cause.failureOption(cause)
    if (failure._tag === "None") return Effect.sync(() => {
      process.stderr.write(`eddy: unexpected error\n${Cause.pretty(cause)}\n`)
      process.exitCode = 1
    })
    const error = failure.value
    return Effect.sync(() => {
      // @effect/cli has printed its own validation errors with the usage.
      if (!ValidationError.isValidationError(error)) process.stderr.write(`eddy: ${messageOf(error)}\n`)
      else {
        const suggestion = error._tag === "CommandMismatch" ? suggestCommand(process.argv[2]) : undefined
        if (suggestion !== undefined) process.stderr.write(`${suggestion}\n`)
        if (error._tag === "MissingValue") process.stderr.write("Give the option, or set the environment variable its help names (eddy <command> --help).\n")
      }
      process.exitCode = exitCodeOf(error)
    })
  }),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(typeof process.exitCode === "number" ? process.exitCode : Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0)
})
