import { Option } from "effect"
import * as AST from "effect/SchemaAST"

/** What a compiled parser returns for input the schema rejects. */
export const invalid: unique symbol = Symbol.for("@eddy/core/internal/compile/invalid")

/** Parses like Effect's decoder but returns the output itself, or `invalid` without saying why. */
export type Compiled = (input: unknown) => unknown

/** Annotates a refinement with its filter's boolean predicate, for compiled code to call directly (`Decoder.filter` sets it). */
export const PredicateId: unique symbol = Symbol.for("@eddy/core/Decoder/Predicate")

/** The options decoders run with; refinement filters receive them as Effect's parser would pass them. */
export const parseOptions: AST.ParseOptions = { errors: "first", onExcessProperty: "ignore" }

/**
 * Compiles the decoding side of a schema into one plain function for the
 * success path of the hot loop: no `Either` per node, no issue objects. It
 * mirrors Effect's parser node for node (same key lookup, same filters, an
 * output equal to Effect's) and covers what event schemas use: primitives,
 * literals, unions of those, refinements, structs, records and arrays.
 * Anything else returns `undefined` and callers use Effect's parser alone.
 * When the compiled function says `invalid`, callers run Effect's parser to
 * get the issue, so error reporting is Effect's.
 *
 * The function is generated source, so every property read has its own
 * inline cache (a shared generic walker makes them all megamorphic). A struct
 * or array whose output would equal its input (no unknown keys dropped,
 * nothing inside rebuilt) is returned as is instead of copied: for JSON input
 * that is Effect's output, without allocating it.
 */
export const compile = (ast: AST.AST): Compiled | undefined => {
  const generator = new Generator()
  const root = generator.node(ast, "input")
  if (root === undefined) return undefined
  const constants = generator.constants.map((_, i) => `c${i} = c[${i}]`)
  const source = `${constants.length > 0 ? `const ${constants.join(", ")};\n` : ""}` +
    `return function compiled(input) {\n${root.code}\nreturn ${root.out};\n}`
  try {
    return new Function("c", "invalid", "options", "hasOwn", "getPrototypeOf", "objectPrototype", "arrayPrototype", source)(
      generator.constants,
      invalid,
      parseOptions,
      Object.prototype.hasOwnProperty,
      Object.getPrototypeOf,
      Object.prototype,
      Array.prototype
    ) as Compiled
  } catch {
    // Where code generation is forbidden (a strict content security policy), Effect's parser does it all.
    return undefined
  }
}

/** Annotations that change how Effect parses a node; such nodes are left to Effect. */
const hasParserAnnotations = (ast: AST.AST): boolean =>
  Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))

/** Statements that return `invalid` on a rejected input, and the expression of the output. */
interface Code {
  readonly code: string
  readonly out: string
}

/** Up to this many string literals are compared one by one; more go through a `Set`. */
const inlineLiterals = 8

class Generator {
  /** Values the generated code reads: filters, their ASTs, literals, key sets. */
  readonly constants: Array<unknown> = []
  private names = 0

  private fresh(prefix: string): string {
    return `${prefix}${this.names++}`
  }

  private constant(value: unknown): string {
    this.constants.push(value)
    return `c${this.constants.length - 1}`
  }

  private literal(value: AST.LiteralValue): string {
    return typeof value === "string" || typeof value === "boolean" || value === null || (typeof value === "number" && Number.isFinite(value) && !Object.is(value, -0))
      ? JSON.stringify(value)
      : this.constant(value)
  }

  /** `filter(v) is None`, as Effect's parser reads a refinement's verdict; or the predicate itself, when annotated. */
  private passes(ast: AST.Refinement, v: string): string {
    const predicate = ast.annotations[PredicateId]
    if (typeof predicate === "function") return `${this.constant(predicate)}(${v}, options) === true`
    return `${this.constant(ast.filter)}(${v}, options, ${this.constant(ast)})._tag === "None"`
  }

  /** A boolean expression for nodes whose output is their input (a predicate is all they need). */
  test(ast: AST.AST, v: string): string | undefined {
    if (hasParserAnnotations(ast)) return undefined
    switch (ast._tag) {
      case "Literal":
        return `${v} === ${this.literal(ast.literal)}`
      case "StringKeyword":
        return `typeof ${v} === "string"`
      case "NumberKeyword":
        return `typeof ${v} === "number"`
      case "BooleanKeyword":
        return `typeof ${v} === "boolean"`
      case "Union": {
        const literals = ast.types.map((m) => (m._tag === "Literal" && typeof m.literal === "string" && !hasParserAnnotations(m) ? m.literal : undefined))
        if (literals.every((l) => l !== undefined) && literals.length > inlineLiterals) {
          return `${this.constant(new Set<unknown>(literals))}.has(${v})`
        }
        const members = ast.types.map((m) => this.test(m, v))
        if (members.some((m) => m === undefined)) return undefined
        return `(${members.join(" || ")})`
      }
      case "Refinement": {
        const from = this.test(ast.from, v)
        return from === undefined ? undefined : `(${from} && ${this.passes(ast, v)})`
      }
      default:
        return undefined
    }
  }

  node(ast: AST.AST, v: string): Code | undefined {
    if (hasParserAnnotations(ast)) return undefined
    const test = this.test(ast, v)
    if (test !== undefined) return { code: `if (!(${test})) return invalid;`, out: v }
    switch (ast._tag) {
      case "Refinement": {
        const from = this.node(ast.from, v)
        if (from === undefined) return undefined
        return { code: `${from.code}\nif (!(${this.passes(ast, from.out)})) return invalid;`, out: from.out }
      }
      case "TypeLiteral":
        return this.struct(ast, v)
      case "TupleType":
        return this.array(ast, v)
      default:
        return undefined
    }
  }

  private struct(ast: AST.TypeLiteral, v: string): Code | undefined {
    // `__proto__` would be read and written as the prototype; symbol keys never come from JSON. Effect handles both.
    if (ast.propertySignatures.some((ps) => typeof ps.name !== "string" || ps.name === "__proto__")) return undefined
    const lines = [`if (typeof ${v} !== "object" || ${v} === null || Array.isArray(${v})) return invalid;`]
    const properties: Array<{ readonly key: string; readonly value: string; readonly out: string; readonly has?: string }> = []
    for (const ps of ast.propertySignatures) {
      const key = JSON.stringify(ps.name)
      const value = this.fresh("v")
      const parsed = this.node(ps.type, value)
      if (parsed === undefined) return undefined
      if (ps.isOptional) {
        const has = this.fresh("h")
        const out = this.fresh("o")
        lines.push(
          `const ${has} = hasOwn.call(${v}, ${key});`,
          `let ${value}, ${out};`,
          `if (${has}) {\n${value} = ${v}[${key}];\n${parsed.code}\n${out} = ${parsed.out};\n}`
        )
        properties.push({ key, value, out, has })
      } else {
        // A missing required key is parsed as `undefined`, as Effect does without `exact`.
        lines.push(`const ${value} = ${v}[${key}];`, parsed.code)
        properties.push({ key, value, out: parsed.out })
      }
    }
    const out = this.fresh("o")
    const copy = [
      `${out} = {};`,
      ...properties.map((p) => (p.has === undefined ? `${out}[${p.key}] = ${p.out};` : `if (${p.has}) ${out}[${p.key}] = ${p.out};`))
    ]
    if (ast.indexSignatures.length > 0) {
      // Records: every key is kept, so the output is always built (they are rare in events).
      lines.push(`let ${out};`, ...copy)
      const declared = this.constant(new Set(properties.map((p) => JSON.parse(p.key) as string)))
      for (const is of ast.indexSignatures) {
        // Only string keys, which every JSON key is; the key schema then accepts all of them.
        if (is.parameter._tag !== "StringKeyword" || hasParserAnnotations(is.parameter)) return undefined
        const key = this.fresh("k")
        const value = this.fresh("v")
        const parsed = this.node(is.type, value)
        if (parsed === undefined) return undefined
        lines.push(
          `for (const ${key} of Object.keys(${v})) {\nconst ${value} = ${v}[${key}];\n${parsed.code}\n` +
            `if (!${declared}.has(${key})) ${out}[${key}] = ${parsed.out};\n}`
        )
      }
      return { code: lines.join("\n"), out }
    }
    // The input is the output when it is a plain object with no key but the declared ones, each parsed to itself.
    const count = this.fresh("n")
    const expected = [String(properties.filter((p) => p.has === undefined).length), ...properties.flatMap((p) => (p.has === undefined ? [] : [`(${p.has} ? 1 : 0)`]))]
    const same = [
      `${count} === ${expected.join(" + ")}`,
      `getPrototypeOf(${v}) === objectPrototype`,
      ...properties.flatMap((p) => (p.out === p.value ? [] : [`${p.out} === ${p.value}`]))
    ]
    lines.push(
      `let ${count} = 0;`,
      `for (const _ in ${v}) ${count}++;`,
      `let ${out};`,
      `if (${same.join(" && ")}) ${out} = ${v};\nelse {\n${copy.join("\n")}\n}`
    )
    return { code: lines.join("\n"), out }
  }

  /** Plain arrays only: `Schema.Array(item)`. */
  private array(ast: AST.TupleType, v: string): Code | undefined {
    if (ast.elements.length > 0 || ast.rest.length !== 1) return undefined
    const i = this.fresh("i")
    const item = this.fresh("v")
    const parsed = this.node(ast.rest[0]!.type, item)
    if (parsed === undefined) return undefined
    const out = this.fresh("o")
    const lines = [`if (!Array.isArray(${v})) return invalid;`, `let ${out} = ${v};`]
    if (parsed.out === item) {
      lines.push(`for (let ${i} = 0; ${i} < ${v}.length; ${i}++) {\nconst ${item} = ${v}[${i}];\n${parsed.code}\n}`)
    } else {
      // Copied from the first item whose output is not the item itself.
      const j = this.fresh("j")
      lines.push(
        `for (let ${i} = 0; ${i} < ${v}.length; ${i}++) {\nconst ${item} = ${v}[${i}];\n${parsed.code}\n` +
          `if (${out} === ${v} && ${parsed.out} !== ${item}) {\n${out} = [];\nfor (let ${j} = 0; ${j} < ${i}; ${j}++) ${out}.push(${v}[${j}]);\n}\n` +
          `if (${out} !== ${v}) ${out}.push(${parsed.out});\n}`
      )
    }
    lines.push(`if (${out} === ${v} && getPrototypeOf(${v}) !== arrayPrototype) ${out} = Array.from(${v});`)
    return { code: lines.join("\n"), out }
  }
}
