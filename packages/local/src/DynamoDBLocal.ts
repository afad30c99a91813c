import { Data, Duration, Effect, type Scope } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { answering, freePort, killed } from "./internal/childProcess"

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

const fail = (message: string) => new DynamoDBLocalError({ message })

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
    killed
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
    const port = yield* freePort(fail)
    const child = yield* launch(java, dir, port)
    const endpoint = `http://127.0.0.1:${port}`
    yield* answering(child, { name: "DynamoDB Local", endpoint, contentType: "application/x-amz-json-1.0", timeout: options.startTimeout ?? "60 seconds", every: 100, fail })
    return { endpoint, port }
  })
