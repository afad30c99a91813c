/**
 * CloudWatch Embedded Metric Format: metrics written as JSON log lines that
 * CloudWatch Logs turns into metrics, with no API call from the function.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import { Context, Effect, Layer, Ref } from "effect"

/** The CloudWatch units eddy reports in. */
export type Unit = "Count" | "Milliseconds" | "Bytes" | "Count/Second" | "None"

/** One metric value of an EMF document. */
export interface MetricValue {
  readonly name: string
  readonly unit: Unit
  readonly value: number
}

/** One EMF document: metrics sharing one set of dimensions. */
export interface Document {
  readonly namespace: string
  /** Dimension name to value; all of them form the document's one dimension set (may be empty). */
  readonly dimensions: Readonly<Record<string, string>>
  readonly metrics: ReadonlyArray<MetricValue>
  /** Extra fields for CloudWatch Logs Insights (request id, shard); not metrics. */
  readonly properties?: Readonly<Record<string, string | number | boolean>>
  /** Epoch milliseconds. */
  readonly timestamp: number
}

/** What EMF itself refuses: CloudWatch would drop such a document without a word. */
export class EmfDocumentError extends Error {
  override readonly name = "EmfDocumentError"
}

const MAX_METRICS = 100
const MAX_DIMENSIONS = 30

/** One JSON line (no newline) for `document`. Throws `EmfDocumentError` for what CloudWatch would reject. */
export const render = (document: Document): string => {
  const dimensionNames = Object.keys(document.dimensions)
  if (document.metrics.length > MAX_METRICS) {
    throw new EmfDocumentError(`an EMF document takes at most ${MAX_METRICS} metrics, got ${document.metrics.length}: split them over several documents`)
  }
  if (dimensionNames.length > MAX_DIMENSIONS) {
    throw new EmfDocumentError(`an EMF dimension set takes at most ${MAX_DIMENSIONS} dimensions, got ${dimensionNames.length}`)
  }
  const root: Record<string, unknown> = { ...document.properties, ...document.dimensions }
  for (const m of document.metrics) {
    if (m.name in document.dimensions || m.name === "_aws") {
      throw new EmfDocumentError(`metric name ${m.name} collides with a dimension or the _aws key`)
    }
    if (!Number.isFinite(m.value)) throw new EmfDocumentError(`metric ${m.name} must be a finite number, got ${m.value}`)
    root[m.name] = m.value
  }
  root._aws = {
    Timestamp: document.timestamp,
    CloudWatchMetrics: [{
      Namespace: document.namespace,
      Dimensions: [dimensionNames],
      Metrics: document.metrics.map((m) => ({ Name: m.name, Unit: m.unit }))
    }]
  }
  return JSON.stringify(root)
}

/** Where EMF documents go. */
export class Writer extends Context.Tag("@eddy/runtime/Emf/Writer")<Writer, {
  readonly write: (documents: ReadonlyArray<Document>) => Effect.Effect<void>
}>() {}

/**
 * Writes each document as one line on stdout. Not `console.log`: in Lambda's
 * text log format that prefixes a timestamp and request id, and the line is no
 * longer JSON that CloudWatch recognises.
 */
export const stdout: Writer["Type"] = {
  write: (documents) =>
    Effect.sync(() => {
      if (documents.length > 0) process.stdout.write(documents.map(render).join("\n") + "\n")
    })
}

/** Writes EMF documents to stdout, where Lambda sends them to CloudWatch. */
export const layerStdout: Layer.Layer<Writer> = Layer.succeed(Writer, stdout)

/** Keeps the rendered lines in memory; `lines` reads them. */
export class MemoryWriter extends Context.Tag("@eddy/runtime/Emf/MemoryWriter")<MemoryWriter, {
  readonly lines: Effect.Effect<ReadonlyArray<string>>
}>() {}

/** Keeps EMF documents in memory, for tests. */
export const layerMemory: Layer.Layer<Writer | MemoryWriter> = Layer.effectContext(
  Effect.map(Ref.make<ReadonlyArray<string>>([]), (ref) =>
    Context.make(Writer, { write: (documents) => Ref.update(ref, (lines) => [...lines, ...documents.map(render)]) }).pipe(
      Context.add(MemoryWriter, { lines: Ref.get(ref) })
    )
  )
)
