import { Option } from "effect"
import * as AST from "effect/SchemaAST"

/** What a compiled parser returns for input the schema rejects. */
export const invalid: unique symbol = Symbol.for("@eddy/core/internal/compile/invalid")

/** Parses like Effect's decoder but returns the output itself, or `invalid` without saying why. */
export type Compiled = (input: unknown) => unknown

type Check = (input: unknown) => boolean

/** The options decoders run with; refinement filters receive them as Effect's parser would pass them. */
export const parseOptions: AST.ParseOptions = { errors: "first", onExcessProperty: "ignore" }

/**
 * Compiles the decoding side of a schema into a plain function for the
 * success path of the hot loop: no `Either` per node, no issue objects. It
 * mirrors Effect's parser node for node (same key lookup, same output
 * building, same filters) and covers what event schemas use: primitives,
 * literals, unions of those, refinements, structs, records and arrays.
 * Anything else returns `undefined` and callers use Effect's parser alone.
 * When the compiled function says `invalid`, callers run Effect's parser to
 * get the issue, so error reporting is Effect's.
 */
export const compile = (ast: AST.AST): Compiled | undefined => {
  if (hasParserAnnotations(ast)) return undefined
  const test = check(ast)
  if (test !== undefined) return (input) => (test(input) ? input : invalid)
  switch (ast._tag) {
    case "Refinement": {
      const from = compile(ast.from)
      if (from === undefined) return undefined
      return (input) => {
        const a = from(input)
        return a === invalid || Option.isSome(ast.filter(a, parseOptions, ast)) ? invalid : a
      }
    }
    case "TypeLiteral":
      return compileStruct(ast)
    case "TupleType": {
      // Plain arrays only: `Schema.Array(item)`.
      if (ast.elements.length > 0 || ast.rest.length !== 1) return undefined
      const item = compile(ast.rest[0]!.type)
      if (item === undefined) return undefined
      return (input) => {
        if (!Array.isArray(input)) return invalid
        const output: Array<unknown> = []
        for (let i = 0; i < input.length; i++) {
          const a = item(input[i])
          if (a === invalid) return invalid
          output.push(a)
        }
        return output
      }
    }
    default:
      return undefined
  }
}

/** Annotations that change how Effect parses a node; such nodes are left to Effect. */
const hasParserAnnotations = (ast: AST.AST): boolean =>
  Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))

/** Nodes whose output is their input: a predicate is all they need. */
const check = (ast: AST.AST): Check | undefined => {
  if (hasParserAnnotations(ast)) return undefined
  switch (ast._tag) {
    case "Literal": {
      const literal = ast.literal
      return (input) => input === literal
    }
    case "StringKeyword":
      return (input) => typeof input === "string"
    case "NumberKeyword":
      return (input) => typeof input === "number"
    case "BooleanKeyword":
      return (input) => typeof input === "boolean"
    case "Union": {
      const literals = ast.types.map((member) => member._tag === "Literal" && typeof member.literal === "string" ? member.literal : undefined)
      if (literals.every((literal) => literal !== undefined)) {
        const set = new Set<unknown>(literals)
        return (input) => set.has(input)
      }
      const members = ast.types.map(check)
      if (members.some((member) => member === undefined)) return undefined
      const tests = members as Array<Check>
      return (input) => {
        for (const test of tests) if (test(input)) return true
        return false
      }
    }
    case "Refinement": {
      const from = check(ast.from)
      if (from === undefined) return undefined
      return (input) => from(input) && Option.isNone(ast.filter(input, parseOptions, ast))
    }
    default:
      return undefined
  }
}

interface Property {
  readonly name: PropertyKey
  readonly isOptional: boolean
  readonly parse: Compiled
}

const compileStruct = (ast: AST.TypeLiteral): Compiled | undefined => {
  const properties: Array<Property> = []
  for (const ps of ast.propertySignatures) {
    const parse = compile(ps.type)
    if (parse === undefined) return undefined
    properties.push({ name: ps.name, isOptional: ps.isOptional, parse })
  }
  const indexes: Array<Compiled> = []
  for (const is of ast.indexSignatures) {
    // Only string keys, which every JSON key is; the key schema then accepts all of them.
    if (is.parameter._tag !== "StringKeyword" || hasParserAnnotations(is.parameter)) return undefined
    const parse = compile(is.type)
    if (parse === undefined) return undefined
    indexes.push(parse)
  }
  const declared = new Set(properties.map((p) => p.name))
  return (input) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return invalid
    const record = input as Record<PropertyKey, unknown>
    const output: Record<PropertyKey, unknown> = {}
    for (const p of properties) {
      // A missing required key is parsed as `undefined`, as Effect does without `exact`.
      if (p.isOptional && !Object.prototype.hasOwnProperty.call(record, p.name)) continue
      const a = p.parse(record[p.name])
      if (a === invalid) return invalid
      output[p.name] = a
    }
    for (const parse of indexes) {
      for (const key of Object.keys(record)) {
        const a = parse(record[key])
        if (a === invalid) return invalid
        if (!declared.has(key)) output[key] = a
      }
    }
    return output
  }
}
