/**
 * How an eddy process starts and ends: its whole configuration checked
 * before any work (every problem reported at once, see `ConfigReport`), JSON
 * logs (see `Log`), one plain error line and exit code 1 when it cannot
 * start, and `NodeRuntime.runMain`'s signal handling (SIGTERM interrupts the
 * program, so finalizers drain it).
 *
 * ```ts
 * Main.run({
 *   service: "commerce-analytics",
 *   config: Config.all({ settings: Service.settingsConfig(), tables: State.tablesConfig }),
 *   variables: { EDDY_STREAM_NAME: "the Kinesis stream to read", ... }
 * }, ({ settings }) => Service.run({ ... }))
 * ```
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Effect, Layer, LogLevel } from "effect"
import * as ConfigReport from "./ConfigReport"
import * as Log from "./Log"

/**
 * The SDK's notice that it will soon need a newer Node is not for an
 * operator's logs (the deployables run on Node 24): off unless set. Read when
 * a client is built, so setting it as this module loads is early enough.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

/** What `run` needs: the service name, the whole configuration and what each variable means. */
export interface Options<A> {
  /** The `service` field of every log line, unless `POWERTOOLS_SERVICE_NAME` says otherwise. */
  readonly service: string
  /** Everything the entry reads from its environment, in one `Config.all`, so every problem is reported together. */
  readonly config: Config.Config<A>
  /** What each variable is for, for the report. */
  readonly variables: ConfigReport.Variables
}

/** What each of the logging variables is for. */
export const logVariables: ConfigReport.Variables = {
  LOG_LEVEL: "the least level logged: TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF (default INFO)",
  AWS_LAMBDA_LOG_LEVEL: "Lambda's log level setting, which wins over LOG_LEVEL",
  POWERTOOLS_SERVICE_NAME: "the service field of every log line"
}

/** Why the process could not go on, as one log message. */
const failureMessage = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  return failure instanceof Error ? failure.message : String(failure)
}

/**
 * The program given the loaded configuration, with the logging of `Log`; a
 * configuration error or a failure is logged once, in plain words, and exits 1.
 */
export const program = <A, E, R>(options: Options<A>, body: (config: A) => Effect.Effect<unknown, E, R>): Effect.Effect<void, unknown, R> =>
  Effect.gen(function*() {
    const logging = yield* Effect.either(ConfigReport.load(Config.all({ minimumLevel: Log.levelConfig, service: Log.serviceConfig(options.service) }), logVariables))
    const log = Log.layer(logging._tag === "Right" ? logging.right : { service: options.service, minimumLevel: LogLevel.Info })
    const run = Effect.gen(function*() {
      const config = yield* ConfigReport.load(Config.all([options.config, Config.all([Log.levelConfig, Log.serviceConfig()])]), { ...logVariables, ...options.variables })
      return yield* body(config[0])
    }).pipe(
      Effect.tapErrorCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError(failureMessage(cause)).pipe(
          Effect.annotateLogs(
            Cause.failureOption(cause).pipe((o) => o._tag === "Some" && o.value instanceof ConfigReport.ConfigurationError
              ? { problems: o.value.problems.map(ConfigReport.describe) }
              : { error: Cause.pretty(cause) })
          )
        )
      )
    )
    yield* Effect.provide(run, log)
  })

/** Runs `program` as the process's main, as described above. */
export const run = <A, E>(options: Options<A>, body: (config: A) => Effect.Effect<unknown, E>): void => {
  // So that layers which read the logging configuration themselves (`Log.layerConfig`) name the same service.
  process.env.POWERTOOLS_SERVICE_NAME ??= options.service
  NodeRuntime.runMain(program(options, body), { disableErrorReporting: true, disablePrettyLogger: true })
}

/** The logging layer for an entry that does not use `run` (a Lambda handler, say): `Log.layerConfig` with `service` as the default name. */
export const logLayer = (service: string): Layer.Layer<never, ConfigReport.ConfigurationError> =>
  Layer.unwrapEffect(Effect.map(ConfigReport.load(Config.all({ minimumLevel: Log.levelConfig, service: Log.serviceConfig(service) }), logVariables), Log.layer))
