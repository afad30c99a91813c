import type { AttributeValue } from "@aws-sdk/client-dynamodb"

/** DynamoDB's item size limit: 400 KB, names and values included. */
export const maxItemBytes = 400 * 1024

const utf8Bytes = (s: string): number => Buffer.byteLength(s, "utf8")

/** A number's size: about one byte per two significant digits, plus one. */
const numberBytes = (n: string): number => {
  const digits = n.replace(/^[-+]/, "").replace(/[eE].*$/, "").replace(".", "").replace(/^0+/, "").replace(/0+$/, "")
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1
}

const valueBytes = (v: AttributeValue): number => {
  if (v.S !== undefined) return utf8Bytes(v.S)
  if (v.N !== undefined) return numberBytes(v.N)
  if (v.B !== undefined) return v.B.byteLength
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1
  if (v.SS !== undefined) return v.SS.reduce((n, s) => n + utf8Bytes(s), 0)
  if (v.NS !== undefined) return v.NS.reduce((n, s) => n + numberBytes(s), 0)
  if (v.BS !== undefined) return v.BS.reduce((n, b) => n + b.byteLength, 0)
  if (v.L !== undefined) return 3 + v.L.reduce((n, e) => n + 1 + valueBytes(e), 0)
  if (v.M !== undefined) return 3 + Object.keys(v.M).length + itemBytes(v.M)
  return 0
}

/** An item's size as DynamoDB counts it against the 400 KB limit and for capacity units: UTF-8 names plus values. */
export const itemBytes = (item: Readonly<Record<string, AttributeValue>>): number => {
  let n = 0
  for (const name in item) n += utf8Bytes(name) + valueBytes(item[name]!)
  return n
}
