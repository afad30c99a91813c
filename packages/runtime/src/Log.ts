/**
 * Structured logs: one JSON object per line on stdout, with the field names
 * of AWS Lambda Powertools, which CloudWatch Logs Insights queries and log
 * pipelines already know:
 *
 * ```json
 * {"level":"INFO","message":"worker started","timestamp":"2026-11-21T10:00:00.000Z","service":"commerce-analytics","workerId":"w1"}
 * ```
 *
 * - `level` (`DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`), `message` (always a
 *   string: several message parts are joined by spaces; a line logged with a
 *   cause alone takes the cause's first message), `timestamp` (ISO 8601, UTC),
 *   `service` (see `layerConfig`).
 * - The log annotations as top-level fields; `error` holds the cause, when
 *   there is one, as Effect renders it (with its stack).
 * - On Lambda: `function_name`, `function_memory_size`, `function_request_id`
 *   (from the `awsRequestId` annotation the handler sets) and `cold_start`
 *   (true for the container's first invocation).
 */
import { Cause, Config, type ConfigError, Effect, FiberRef, HashMap, HashSet, Layer, List, Logger, LogLevel } from "effect"

/** The service name and least level of the JSON logs. */
export interface Options {
  readonly minimumLevel?: LogLevel.LogLevel
  /** The `service` field. Default `eddy`. */
  readonly service?: string
}

const levelName = (level: LogLevel.LogLevel): string => (level._tag === "Warning" ? "WARN" : level.label)

const messageText = (message: unknown, cause: Cause.Cause<unknown>): string => {
  const parts = Array.isArray(message) ? message : [message]
  const text = parts.filter((p) => p !== undefined).map((p) => (typeof p === "string" ? p : safeJson(p))).join(" ")
  if (text !== "" || Cause.isEmpty(cause)) return text
  // `Effect.logError(cause)` carries no message of its own: name the failure.
  const failure = Cause.squash(cause)
  return failure instanceof Error ? failure.message : safeJson(failure)
}

const safeJson = (value: unknown): string => {
  try {
    return typeof value === "object" && value !== null && !Array.isArray(value) && value.toString !== Object.prototype.toString
      ? String(value)
      : JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Lambda's own facts, read once: present only in a Lambda container. */
const lambdaFields = (): Record<string, unknown> | undefined => {
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME
  if (name === undefined) return undefined
  const memory = Number(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
  return { function_name: name, ...(Number.isFinite(memory) ? { function_memory_size: memory } : {}) }
}

/** The logger behind `layer`: a JSON object per entry, as described above. */
export const make = (options: { readonly service?: string; readonly write?: (line: string) => void } = {}): Logger.Logger<unknown, void> => {
  const service = options.service ?? "eddy"
  // Straight to stdout, not `console.log`: Lambda's text log format would prefix each line and break the JSON.
  const write = options.write ?? ((line: string) => void process.stdout.write(line))
  const lambda = lambdaFields()
  let firstRequest: unknown
  return Logger.make(({ annotations, cause, date, logLevel, message, spans }) => {
    const entry: Record<string, unknown> = {
      level: levelName(logLevel),
      message: messageText(message, cause),
      timestamp: date.toISOString(),
      service,
      ...lambda
    }
    for (const [key, value] of HashMap.toEntries(annotations)) {
      if (key === "awsRequestId") {
        firstRequest ??= value
        entry.function_request_id = value
        entry.cold_start = value === firstRequest
      } else if (!(key in entry)) entry[key] = value
    }
    if (!Cause.isEmpty(cause)) entry.error = Cause.pretty(cause, { renderErrorCause: true })
    const now = date.getTime()
    for (const span of List.toArray(spans)) entry[`${span.label}_ms`] = now - span.startTime
    let line: string
    try {
      line = JSON.stringify(entry)
    } catch {
      line = JSON.stringify({ level: entry.level, message: entry.message, timestamp: entry.timestamp, service })
    }
    write(line + "\n")
  })
}

/** JSON lines on stdout at `minimumLevel` (default INFO) and above. */
export const layer = (options: Options = {}): Layer.Layer<never> =>
  Layer.merge(
    // The only logger: a program provided with it twice (an entry, then the service driver) prints each line once.
    Layer.scopedDiscard(Effect.locallyScoped(FiberRef.currentLoggers, HashSet.make(make(options.service !== undefined ? { service: options.service } : {})))),
    Logger.minimumLogLevel(options.minimumLevel ?? LogLevel.Info)
  )

/** The level from `AWS_LAMBDA_LOG_LEVEL` (Lambda's log-level setting), else `LOG_LEVEL`, else INFO. */
export const levelConfig: Config.Config<LogLevel.LogLevel> = Config.logLevel("AWS_LAMBDA_LOG_LEVEL").pipe(
  Config.orElse(() => Config.logLevel("LOG_LEVEL")),
  Config.withDefault(LogLevel.Info)
)

/** The `service` field from `POWERTOOLS_SERVICE_NAME` (Powertools' variable), else `fallback`. */
export const serviceConfig = (fallback = "eddy"): Config.Config<string> =>
  Config.nonEmptyString("POWERTOOLS_SERVICE_NAME").pipe(Config.withDefault(fallback))

/**
 * `layer` with the level from `levelConfig` (TRACE, DEBUG, INFO, WARN, ERROR,
 * FATAL or OFF) and the service name from `serviceConfig`.
 */
export const layerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(Config.all({ minimumLevel: levelConfig, service: serviceConfig() }), layer)
)
