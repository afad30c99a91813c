import { type Duration, Effect, Fiber, Option, TestClock } from "effect"

/**
 * Runs `effect` under the TestClock, advancing it by `step` until the effect
 * ends. Between steps the event loop gets one turn, so the emulator's HTTP
 * replies arrive: no real time passes for the effect's retry delays.
 */
export const advanceUntilDone = <A, E>(effect: Effect.Effect<A, E>, step: Duration.DurationInput) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let turn = 0; turn < 10_000; turn++) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      yield* TestClock.adjust(step)
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    return yield* Effect.dieMessage("the effect did not end within 10,000 clock steps")
  })
