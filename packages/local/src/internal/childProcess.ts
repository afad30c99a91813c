import { Duration, Effect } from "effect"
import type { ChildProcess } from "node:child_process"
import { createServer } from "node:net"

/** A free loopback port, as the OS hands one out; `fail` makes the error from a message. */
export const freePort = <E>(fail: (message: string) => E): Effect.Effect<number, E> =>
  Effect.async<number, E>((resume) => {
    const server = createServer()
    server.once("error", (cause) => resume(Effect.fail(fail(`no free port: ${cause.message}`))))
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/** Kills the child and waits for it to exit: the release of a started emulator. */
export const killed = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

/** How to ask an emulator whether it is up. */
export interface Probe<E> {
  /** The emulator's name, as errors say it. */
  readonly name: string
  readonly endpoint: string
  /** The AWS JSON protocol's content type it answers (`application/x-amz-json-1.0` or `-1.1`). */
  readonly contentType: string
  readonly timeout: Duration.DurationInput
  /** Milliseconds between probes. */
  readonly every: number
  readonly fail: (message: string) => E
}

/** Resolves once the child answers a request; fails with its error output if it exits first, or when the timeout passes. */
export const answering = <E>(child: ChildProcess, probe: Probe<E>): Effect.Effect<void, E> =>
  Effect.async<void, E>((resume) => {
    let stderr = ""
    let done = false
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
    child.once("exit", (code, signal) => {
      if (!done) (done = true, resume(Effect.fail(probe.fail(`${probe.name} exited (${code ?? signal}) before it answered: ${stderr}`))))
    })
    const ask = () => {
      if (done) return
      fetch(probe.endpoint, { method: "POST", headers: { "content-type": probe.contentType }, body: "{}" }).then(
        () => done || (done = true, resume(Effect.void)),
        () => setTimeout(ask, probe.every)
      )
    }
    ask()
  }).pipe(
    Effect.timeoutFail({
      duration: probe.timeout,
      onTimeout: () => probe.fail(`${probe.name} did not answer on ${probe.endpoint} within ${Duration.format(Duration.decode(probe.timeout))}`)
    })
  )
