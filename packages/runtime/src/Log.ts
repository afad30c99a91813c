/**
 * Structured logs: one JSON object per line on stdout (Effect's JSON logger),
 * which CloudWatch Logs and container log drivers index field by field.
 */
import { Config, type ConfigError, Effect, Layer, Logger, LogLevel } from "effect"

// Straight to stdout, not `console.log`: Lambda's text log format would prefix each line and break the JSON.
const jsonLines = Logger.map(Logger.jsonLogger, (line) => process.stdout.write(line + "\n"))

/** JSON lines on stdout at `minimumLevel` (default INFO) and above. */
export const layer = (options: { readonly minimumLevel?: LogLevel.LogLevel } = {}): Layer.Layer<never> =>
  Layer.merge(Logger.replace(Logger.defaultLogger, jsonLines), Logger.minimumLogLevel(options.minimumLevel ?? LogLevel.Info))

/**
 * `layer` with the level from `AWS_LAMBDA_LOG_LEVEL` (Lambda's log-level
 * setting) or else `LOG_LEVEL`: TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF.
 */
export const layerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(
    Config.logLevel("AWS_LAMBDA_LOG_LEVEL").pipe(Config.orElse(() => Config.logLevel("LOG_LEVEL")), Config.withDefault(LogLevel.Info)),
    (minimumLevel) => layer({ minimumLevel })
  )
)
