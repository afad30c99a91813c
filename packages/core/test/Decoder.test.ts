import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { arbitraryCommerceEvent } from "@eddy/commerce/CommerceArbitrary"
import { OrderCancelled, OrderCreated, OrderStatusChanged, ProductCreated, ProductUpdated } from "@eddy/commerce/CommerceEvent"
import * as Decoder from "../src/Decoder"
import { compile, invalid, parseOptions } from "../src/internal/compile"

const bytes = (text: string) => new TextEncoder().encode(text)

const Point = Schema.Struct({
  x: Schema.Number,
  y: Schema.Number,
  tags: Schema.Array(Schema.Struct({ name: Schema.String })),
  labels: Schema.Record({ key: Schema.String, value: Schema.String }),
  note: Schema.optionalWith(Schema.String, { exact: true })
})

const point = Decoder.json(Point)

describe("Decoder", () => {
  it("decodes UTF-8 JSON objects with a schema and drops unknown fields", () => {
    const result = point.decode(bytes(`{"x":1,"y":2,"z":3,"tags":[{"name":"ä","extra":1}],"labels":{"a":"b"}}`))
    expect(result).toStrictEqual(Either.right({ x: 1, y: 2, tags: [{ name: "ä" }], labels: { a: "b" } }))
  })

  it("says what is wrong with bytes that are not JSON without quoting them: reasons end up in logs", () => {
    const reasonOf = (text: string) => Either.match(point.decode(bytes(text)), { onLeft: (e) => e.message, onRight: () => "ok" })
    for (const text of ["order o-5001 created", "{\"customer\":\"c-secret\"", "{\"voucher\": GV-SECRET}"]) {
      const reason = reasonOf(text)
      expect(reason).toMatch(/invalid JSON/)
      expect(reason).not.toMatch(/o-5001|c-secret|GV-SECRET/)
    }
  })

  it("tells bytes that are not JSON objects apart", () => {
    const tagOf = (data: Uint8Array) => Either.match(point.decode(data), { onLeft: (e) => e._tag, onRight: () => "ok" })
    expect(tagOf(Uint8Array.of(0x7b, 0xe2, 0x28, 0xa1, 0x7d))).toBe("NotUtf8Error")
    expect(tagOf(new Uint8Array(0))).toBe("NotJsonError")
    expect(tagOf(bytes("{"))).toBe("NotJsonError")
    expect(tagOf(bytes("true"))).toBe("NotJsonError")
    expect(tagOf(bytes("[1]"))).toBe("NotJsonError")
    expect(tagOf(bytes(`{"x":1}`))).toBe("InvalidEventError")
  })

  it("names the offending field with its path", () => {
    const error = (text: string) => Either.getLeft(point.decode(bytes(text))).pipe((o) => o._tag === "Some" ? o.value : undefined)
    expect(error(`{"x":1,"y":2,"tags":[{"name":"a"},{"name":3}],"labels":{}}`)).toMatchObject({
      _tag: "InvalidEventError",
      path: "tags[1].name"
    })
    expect(error(`{"x":1,"y":2,"tags":[],"labels":{"shoe size":1}}`)).toMatchObject({ path: `labels["shoe size"]` })
    expect(error(`{"x":1,"tags":[],"labels":{}}`)).toMatchObject({ path: "y", rule: "is missing", message: "y is missing" })
  })

  it("formats paths as they read in code", () => {
    expect(Decoder.formatPath(["order", "lineItems", 0, "quantity"])).toBe("order.lineItems[0].quantity")
    expect(Decoder.formatPath([0, "a"])).toBe("[0].a")
    expect(Decoder.formatPath(["attributes", "shoe size", "x-1"])).toBe(`attributes["shoe size"]["x-1"]`)
    expect(Decoder.formatPath([])).toBe("")
  })

  it("every error has a message and a short reason", () => {
    expect(new Decoder.NotUtf8Error()).toMatchObject({ reason: "data is not valid UTF-8" })
    expect(new Decoder.NotJsonError({ found: "empty data" })).toMatchObject({
      reason: "not a JSON object: empty data",
      message: "record data must be one JSON object (an event), found empty data"
    })
    expect(new Decoder.InvalidEventError({ path: "order.total", rule: "must be an integer >= 0" })).toMatchObject({
      reason: "order.total must be an integer >= 0",
      message: "order.total must be an integer >= 0"
    })
    expect(new Decoder.InvalidEventError({ path: "", rule: "must be an object" }).message).toBe("event must be an object")
  })

  it("gives Effect's output whether or not the input can be kept as it is", () => {
    const fast = compile(Point.ast)!
    const reference = Schema.decodeUnknownSync(Point, parseOptions)
    const exact = { x: 1, y: 2, tags: [{ name: "a" }], labels: { a: "b" }, note: "n" }
    const cases: Array<unknown> = [
      exact,
      { ...exact, z: 3 },
      { x: 1, y: 2, tags: [{ name: "a" }, { name: "b", extra: true }, { name: "c" }], labels: {} },
      Object.assign(Object.create(null), exact),
      { ...exact, tags: Object.setPrototypeOf([{ name: "a" }], class extends Array {}.prototype) }
    ]
    for (const input of cases) expect(fast(input)).toStrictEqual(reference(input))
    // Nothing to drop: the input is the output, not a copy; an unknown key is dropped from a copy.
    expect((fast(exact) as typeof exact).tags).toBe(exact.tags)
    expect(fast({ ...exact, z: 3 })).not.toHaveProperty("z")
  })

  it("leaves decoding to Effect's parser where code generation is forbidden", () => {
    const original = globalThis.Function
    globalThis.Function = function Forbidden() {
      throw new EvalError("code generation from strings disallowed")
    } as unknown as FunctionConstructor
    try {
      expect(compile(Point.ast)).toBeUndefined()
      expect(Decoder.json(Point).decode(bytes(`{"x":1,"y":2,"tags":[],"labels":{}}`))).toStrictEqual(
        Either.right({ x: 1, y: 2, tags: [], labels: {} })
      )
    } finally {
      globalThis.Function = original
    }
  })

  it("falls back to Effect's parser for schemas the compiler does not cover", () => {
    const WithTransformation = Schema.Struct({ n: Schema.NumberFromString })
    expect(compile(WithTransformation.ast)).toBeUndefined()
    const decoder = Decoder.json(WithTransformation)
    expect(decoder.decode(bytes(`{"n":"42"}`))).toStrictEqual(Either.right({ n: 42 }))
    expect(Either.getLeft(decoder.decode(bytes(`{"n":42}`)))).toMatchObject({ _tag: "Some", value: { path: "n" } })
  })

  describe("the compiled fast path accepts exactly what Effect's parser accepts", () => {
    const schemas = {
      "product.created": ProductCreated,
      "product.updated": ProductUpdated,
      "order.created": OrderCreated,
      "order.status_changed": OrderStatusChanged,
      "order.cancelled": OrderCancelled
    } as const

    const compiled = Object.fromEntries(Object.entries(schemas).map(([type, schema]) => [type, compile(schema.ast)]))
    const effect = Object.fromEntries(
      Object.entries(schemas).map(([type, schema]) => [type, Schema.decodeUnknownEither(schema as Schema.Schema<unknown>, parseOptions)])
    )

    it("compiles every event schema", () => {
      for (const type of Object.keys(schemas)) expect(compiled[type]).toBeTypeOf("function")
    })

    /** Every path to a value inside a JSON value. */
    const pathsOf = (value: unknown, prefix: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> => {
      if (typeof value !== "object" || value === null) return []
      const keys: Array<string | number> = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value)
      return keys.flatMap((key) => [[...prefix, key], ...pathsOf((value as Record<string | number, unknown>)[key], [...prefix, key])])
    }

    const nasty = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(0, -1, 1.5, 2 ** 53, -0, "", "x", "EUR", "eur", null, [], {}, "2026-02-30T00:00:00Z", "cancelled", "pending")
    )

    // Valid events with one value replaced or removed somewhere: mostly invalid, sometimes still valid.
    const mutated = fc.tuple(arbitraryCommerceEvent, fc.nat(), fc.option(nasty, { nil: undefined })).map(([event, n, replacement]) => {
      const json = JSON.parse(JSON.stringify(event)) as Record<string | number, unknown>
      const paths = pathsOf(json)
      const path = paths[n % paths.length]!
      let at = json
      for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>
      const last = path[path.length - 1]!
      if (replacement === undefined && !Array.isArray(at)) delete at[last]
      else at[last] = replacement ?? null
      return { type: event.type, json }
    })

    it.prop("on mutated events", [mutated], ([{ json, type }]) => {
      const fast = compiled[type]!(json)
      const reference = effect[type]!(json)
      if (Either.isRight(reference)) expect(fast).toStrictEqual(reference.right)
      else expect(fast).toBe(invalid)
    }, { fastCheck: { numRuns: 500 } })

    it.prop("on arbitrary JSON", [fc.jsonValue()], ([json]) => {
      expect(compiled["order.created"]!(json) === invalid).toBe(Either.isLeft(effect["order.created"]!(json)))
    })
  })
})
