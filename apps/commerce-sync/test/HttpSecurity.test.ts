/**
 * Hostile or careless clients: a configured bearer token is required; a body
 * that is not `application/json` gets 415 (so a web page cannot post one
 * without a preflight, and no answer carries CORS headers); a 400 names the
 * field and rule, never the value; the server listens on loopback unless
 * told otherwise and closes connections that are slow to send headers or
 * idle too long. Nothing refused reaches the stream.
 */
import { expect, layer } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import { connect } from "node:net"
import * as HttpConfig from "../src/HttpConfig"
import { expectProblem, orderBody, serve } from "./support/api"
import { type Answer, post, request } from "./support/http"
import { KinesisLocal, readBack } from "./support/kinesis"

/** A raw connection that sends `text` and resolves with what the server sent and when it closed the connection. */
const rawExchange = (port: number, text: string, waitAtMostMillis: number) =>
  Effect.promise(() =>
    new Promise<{ readonly received: string; readonly closedAfterMillis: number | undefined }>((resolve) => {
      const started = Date.now()
      const socket = connect(port, "127.0.0.1", () => socket.write(text))
      let received = ""
      socket.on("data", (b) => (received += b.toString()))
      const timer = setTimeout(() => {
        socket.destroy()
        resolve({ received, closedAfterMillis: undefined })
      }, waitAtMostMillis)
      socket.on("close", () => {
        clearTimeout(timer)
        resolve({ received, closedAfterMillis: Date.now() - started })
      })
      socket.on("error", () => {})
    })
  )

const noCors = (answer: Answer) => expect([...answer.headers.keys()].filter((h) => h.startsWith("access-control-"))).toEqual([])

layer(KinesisLocal, { excludeTestServices: true })("HTTP API security", (it) => {
  it.scoped("with a token configured, a request without it or with another gets 401; /healthz stays open", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve({ http: { authToken: Redacted.make("s3cret-token") } })
      const order = orderBody(401)
      for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "s3cret-token" }, { authorization: "Basic s3cret-token" }]) {
        const answer = yield* post(url, "/orders", order, headers)
        expectProblem(answer, 401)
        expect(answer.headers.get("www-authenticate")).toBe("Bearer")
      }
      // Unknown routes are refused the same way: nothing about the API leaks without the token.
      expectProblem(yield* request(url, "GET", "/orders"), 401)
      expect((yield* request(url, "GET", "/healthz")).status).toBe(200)
      expect((yield* post(url, "/orders", order, { authorization: "Bearer s3cret-token" })).status).toBe(202)
      expect((yield* readBack(streams.orders, 1)).map((r) => r.partitionKey)).toEqual([order.id])
    }))

  it.scoped("a body that is not application/json gets 415; no answer carries CORS headers", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const order = orderBody(402)
      const origin = { origin: "https://evil.example" }
      for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"]) {
        const answer = yield* post(url, "/orders", order, { ...origin, "content-type": type })
        expectProblem(answer, 415)
        noCors(answer)
      }
      const preflight = yield* request(url, "GET", "/healthz", undefined, { ...origin, "access-control-request-method": "POST" })
      noCors(preflight)
      const options = yield* Effect.promise(() =>
        fetch(`${url}/orders`, { method: "OPTIONS", headers: { ...origin, "access-control-request-method": "POST" } })
      )
      expect([...options.headers.keys()].filter((h) => h.startsWith("access-control-"))).toEqual([])
      expect(options.status).toBe(404)

      const accepted = yield* post(url, "/orders", order, { ...origin, "content-type": "application/json; charset=utf-8" })
      expect(accepted.status).toBe(202)
      noCors(accepted)
      expect((yield* readBack(streams.orders, 1)).length).toBe(1)
    }))

  it.scoped("a 400 names the field and the rule but quotes nothing of the body, unless configured to", () =>
    Effect.gen(function*() {
      const { url } = yield* serve()
      const order = orderBody(403)
      const secret = "cu-secret-4711"
      const cases: ReadonlyArray<unknown> = [
        `{"customerId": ${secret}}`,
        { ...order, customerId: secret, currency: `EUR-${secret}` },
        { ...order, customerId: secret, lineItems: [{ ...order.lineItems[0]!, quantity: secret }] },
        { ...order, customerId: secret, createdAt: secret }
      ]
      for (const body of cases) {
        const answer = yield* post(url, "/orders", body)
        expectProblem(answer, 400)
        // Not even a part of it (the JSON parser quotes a few characters around the error).
        expect(JSON.stringify(answer.body)).not.toContain("secret")
      }
      // Configured to, the JSON parser's excerpt helps a developer find the typo.
      const { url: verbose } = yield* serve({ http: { errorInputExcerpts: true } })
      const answer = yield* post(verbose, "/orders", cases[0])
      expectProblem(answer, 400, "")
      expect(answer.body.rule).toContain("cu-secret")
    }))

  it.scoped("loopback by default; slow headers and idle keep-alive connections are closed by the server's timeouts", () =>
    Effect.gen(function*() {
      const { port, url } = yield* serve({ http: { timeouts: { headers: "300 millis", request: "1 second", keepAlive: "200 millis" } } })
      expect(url).toBe(`http://127.0.0.1:${port}`)

      // Headers never finished: 408, then the connection is closed.
      const slow = yield* rawExchange(port, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", 5_000)
      expect(slow.closedAfterMillis).toBeDefined()
      expect(slow.closedAfterMillis!).toBeGreaterThanOrEqual(250)
      expect(slow.closedAfterMillis!).toBeLessThan(2_000)
      expect(slow.received).toMatch(/^HTTP\/1\.1 408/)

      // A finished exchange on a keep-alive connection, then silence: closed after the keep-alive timeout.
      const idle = yield* rawExchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", 5_000)
      expect(idle.received).toMatch(/^HTTP\/1\.1 200/)
      expect(idle.closedAfterMillis).toBeDefined()
      expect(idle.closedAfterMillis!).toBeLessThan(2_000)
    }))

  it.effect("HttpConfig: loopback, 8080, no token and explicit timeouts by default; each read from the environment", () =>
    Effect.gen(function*() {
      const defaults = yield* HttpConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      expect(defaults).toMatchObject({ host: "127.0.0.1", port: 8080, errorInputExcerpts: false })
      expect(defaults.authToken).toBeUndefined()
      expect(Duration.toMillis(defaults.shutdownGrace)).toBe(10_000)
      expect(Duration.toMillis(defaults.shutdownGrace)).toBeLessThan(30_000)
      expect(Object.values(defaults.timeouts).map((d) => Duration.toMillis(d))).toEqual([10_000, 30_000, 5_000])

      const env = new Map([
        ["HOST", "0.0.0.0"],
        ["PORT", "9000"],
        ["HTTP_AUTH_TOKEN", "t0ken"],
        ["HTTP_SHUTDOWN_GRACE", "3 seconds"],
        ["HTTP_HEADERS_TIMEOUT", "2 seconds"],
        ["HTTP_REQUEST_TIMEOUT", "4 seconds"],
        ["HTTP_KEEP_ALIVE_TIMEOUT", "1 second"],
        ["HTTP_ERROR_INPUT_EXCERPTS", "true"]
      ])
      const set = yield* HttpConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(env)))
      expect(set).toMatchObject({ host: "0.0.0.0", port: 9000, errorInputExcerpts: true })
      expect(Option.map(Option.fromNullable(set.authToken), Redacted.value)).toEqual(Option.some("t0ken"))
      // Redacted: the token never shows in a log of the settings.
      expect(String(set.authToken)).not.toContain("t0ken")
      expect([set.shutdownGrace, ...Object.values(set.timeouts)].map((d) => Duration.toMillis(d))).toEqual([3_000, 2_000, 4_000, 1_000])
    }))
})
