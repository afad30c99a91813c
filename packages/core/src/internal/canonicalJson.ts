import type { Json } from "../Json"

/**
 * JSON text with object keys sorted (by UTF-16 code units), so equal values
 * have equal text: a total order and an equality for JSON values.
 */
export const canonicalJson = (value: Json): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const object = value as { readonly [key: string]: Json }
  const keys = Object.keys(object).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(object[k]!)}`).join(",")}}`
}
