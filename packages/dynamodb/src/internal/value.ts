import type { AttributeValue } from "@aws-sdk/client-dynamodb"
import type { Json } from "@eddy/core/Json"
import type { Monoid } from "@eddy/core/Monoid"

/** Reads a stored value: numbers were written by `ADD`/`SET`, everything else as JSON text. */
export const decodeValue = <A>(monoid: Monoid<A>, v: AttributeValue): A => {
  let json: Json
  if (v.N !== undefined) json = Number(v.N)
  else if (v.S !== undefined) json = JSON.parse(v.S) as Json
  else throw new Error("the stored value is neither a number nor JSON text")
  return monoid.decode(json)
}
