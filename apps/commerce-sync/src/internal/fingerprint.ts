/**
 * What an `Idempotency-Key` is bound to: the method, the path and the body as
 * canonical JSON (keys sorted at every level), so the same request sent with
 * other whitespace or key order is still the same request.
 */
import { createHash } from "node:crypto"

const canonical = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(",")}}`
  }
  return JSON.stringify(value)
}

/** A SHA-256 hex digest of the request. */
export const fingerprint = (method: string, path: string, body: unknown): string =>
  createHash("sha256").update(`${method} ${path}\n${canonical(body)}`).digest("hex")
