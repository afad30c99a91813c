import { NodeHttp2Handler } from "@smithy/node-http-handler"
import { Duration, Effect, type Scope } from "effect"
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { answering, freePort, killed } from "./internal/childProcess"

const require = createRequire(import.meta.url)

/** How the kinesis-local emulator is started. */
export interface Options {
  /** Most shards across streams (kinesis-mock's default is 50). */
  readonly shardLimit?: number
  /** Longest wait for the emulator to answer (default 60 s: it is a large program to load). */
  readonly startTimeout?: Duration.DurationInput
}

const fail = (message: string) => new Error(message)

const launch = (port: number, tlsPort: number, options: Options) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const main = require.resolve("kinesis-local/main.js")
        return spawn(process.execPath, [main], {
          cwd: dirname(main),
          stdio: ["ignore", "ignore", "pipe"],
          env: {
            PATH: process.env.PATH ?? "",
            KINESIS_MOCK_PLAIN_PORT: String(port),
            KINESIS_MOCK_TLS_PORT: String(tlsPort),
            KINESIS_MOCK_CERT_PATH: join(dirname(main), "server.json"),
            LOG_LEVEL: "ERROR",
            SHARD_LIMIT: String(options.shardLimit ?? 1000),
            // Stream and consumer changes take effect at once, as the other emulators' do.
            CREATE_STREAM_DURATION: "0ms",
            DELETE_STREAM_DURATION: "0ms",
            REGISTER_STREAM_CONSUMER_DURATION: "0ms",
            DEREGISTER_STREAM_CONSUMER_DURATION: "0ms",
            MERGE_SHARDS_DURATION: "0ms",
            SPLIT_SHARD_DURATION: "0ms",
            UPDATE_SHARD_COUNT_DURATION: "0ms",
            LOAD_DATA_IF_EXISTS: "false",
            SHOULD_PERSIST_DATA: "false"
          }
        })
      },
      catch: (cause) => new Error(`kinesis-local could not start (is the kinesis-local package installed?): ${String(cause)}`)
    }),
    killed
  )

/**
 * Starts kinesis-local (kinesis-mock, which serves enhanced fan-out:
 * RegisterStreamConsumer, SubscribeToShard) as a child process on a free
 * port, in memory, with stream and consumer changes taking effect at once;
 * stopped with the scope. `endpoint` is plain HTTP: it serves HTTP/1.1 for
 * the ordinary calls and HTTP/2 without TLS for SubscribeToShard, through
 * `http2Handler()`. Fails if it cannot start or does not answer.
 */
export const start = (options: Options = {}): Effect.Effect<{ readonly endpoint: string; readonly port: number }, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort(fail)
    const tlsPort = yield* freePort(fail)
    const child = yield* launch(port, tlsPort, options)
    const endpoint = `http://127.0.0.1:${port}`
    yield* answering(child, { name: "kinesis-local", endpoint, contentType: "application/x-amz-json-1.1", timeout: options.startTimeout ?? "60 seconds", every: 200, fail })
    return { endpoint, port }
  })

/**
 * An HTTP/2 handler for kinesis-local's SubscribeToShard. The SDK gives an
 * event stream a session of its own and closes it (GOAWAY) as soon as the
 * response starts, which kinesis-mock answers with a protocol error; and
 * kinesis-mock ends a subscription only when its connection closes, not when
 * the client cancels the stream. Here each event stream gets a connection of
 * its own that stays open until the stream ends or is cancelled, and is then
 * closed.
 */
export const http2Handler = (): NodeHttp2Handler => new OwnConnectionPerEventStream()

class OwnConnectionPerEventStream extends NodeHttp2Handler {
  override async handle(...[request, options]: Parameters<NodeHttp2Handler["handle"]>) {
    if (options?.isEventStream !== true) return super.handle(request, options)
    const own = new NodeHttp2Handler()
    const close = () => own.destroy()
    ;(options.abortSignal as unknown as EventTarget | undefined)?.addEventListener("abort", close, { once: true })
    try {
      const out = await own.handle(request, { ...options, isEventStream: false })
      const body = out.response.body as { once?: (event: string, f: () => void) => void }
      body.once?.("close", close)
      return out
    } catch (cause) {
      close()
      throw cause
    }
  }
}
