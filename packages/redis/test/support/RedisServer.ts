import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A `redis-server` child process of this test, on a free port, that can be killed and started again. */
export interface RedisServer {
  readonly url: string
  /** SIGKILL, like a crash: no shutdown save. */
  readonly kill: Effect.Effect<void>
  /** Starts it again on the same port and data directory. */
  readonly restart: Effect.Effect<void, Error>
}

const freePort = Effect.async<number, Error>((resume) => {
  const server = createServer()
  server.once("error", (e) => resume(Effect.fail(e)))
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

const launch = (args: ReadonlyArray<string>) =>
  Effect.async<ChildProcess, Error>((resume) => {
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const onData = (data: Buffer) => {
      output += data.toString()
      if (output.includes("Ready to accept connections")) {
        child.stdout!.off("data", onData)
        resume(Effect.succeed(child))
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", (data: Buffer) => (output += data.toString()))
    child.once("error", (e: NodeJS.ErrnoException) =>
      resume(Effect.fail(e.code === "ENOENT" ? new Error("redis-server is not on PATH: install Redis (e.g. apt-get install redis-server) to run these tests") : e))
    )
    child.once("exit", (code) => resume(Effect.fail(new Error(`redis-server exited with ${code} before it was ready:\n${output}`))))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("redis-server was not ready in 10 seconds") }))

const stop = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

/**
 * Starts `redis-server` without snapshots; with `persist`, every write goes
 * to the append-only file before it is acknowledged (`appendfsync always`),
 * so a killed server comes back with everything it acknowledged.
 */
export const start = (options: { readonly persist: boolean }): Effect.Effect<RedisServer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "eddy-redis-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const args = [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir,
      ...(options.persist ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"])
    ]
    let child = yield* launch(args)
    yield* Effect.addFinalizer(() => stop(child))
    return {
      url: `redis://127.0.0.1:${port}`,
      kill: Effect.suspend(() => stop(child)),
      restart: Effect.map(launch(args), (next) => void (child = next))
    }
  })
