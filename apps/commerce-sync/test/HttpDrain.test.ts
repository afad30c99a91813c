/**
 * SIGTERM to the commerce-sync service, run as a real process against a
 * local Kinesis, with keep-alive clients connected: it stops accepting,
 * answers the request in flight with `Connection: close`, closes the idle
 * connections, logs the drain and exits 0 within the grace period; a client
 * that never finishes its request is cut at the end of the grace period and
 * the process still exits 0 in time.
 */
import { describe, expect, it } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { layer as kinesisLayer } from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import * as Harness from "@eddy/testing/Harness"
import { Effect } from "effect"
import { Agent, request as httpRequest } from "node:http"
import { connect } from "node:net"
import { fileURLToPath } from "node:url"
import { createStream, readAll, uniqueName } from "./support/kinesis"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const program = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const GRACE_MILLIS = 3_000

interface Service extends Harness.ChildRun {
  readonly port: number
  readonly orders: string
}

/** Kinesalite, two streams, and the service entry point in a child process, answering on a free port. */
const startService = Effect.gen(function*() {
  const { endpoint } = yield* Kinesalite.start()
  const streams = { product: uniqueName("drain-products"), orders: uniqueName("drain-orders") }
  for (const name of Object.values(streams)) yield* createStream(name, 1).pipe(Effect.provide(kinesisLayer({ endpoint })))
  const port = yield* Harness.freePort
  const run = yield* Harness.spawnProgram(program, {
    cwd: root,
    env: {
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_ENDPOINT_URL_KINESIS: endpoint,
      KINESIS_PRODUCT_STREAM: streams.product,
      KINESIS_ORDERS_STREAM: streams.orders,
      HOST: "127.0.0.1",
      PORT: String(port),
      HTTP_SHUTDOWN_GRACE: `${GRACE_MILLIS} millis`
    }
  })
  const service: Service = { ...run, port, orders: streams.orders }
  yield* Effect.promise(async () => {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (service.child.exitCode !== null) throw new Error(`the service exited early:\n${service.output()}`)
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)
      if (ok) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`the service never answered:\n${service.output()}`)
  })
  return { service, endpoint }
})

interface Response {
  readonly status: number
  readonly connection: string | undefined
}

/**
 * A POST /orders on `agent` that sends its headers and the first half of the
 * body now; `finish` sends the rest, `response` is the answer.
 */
const openRequest = (agent: Agent, port: number, body: string) => {
  const half = Math.floor(body.length / 2)
  const req = httpRequest({
    agent,
    host: "127.0.0.1",
    port,
    method: "POST",
    path: "/orders",
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
  })
  const response = new Promise<Response>((resolve, reject) => {
    req.on("response", (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection }))
    })
    req.on("error", reject)
  })
  req.write(body.slice(0, half))
  return { response, finish: () => req.end(body.slice(half)) }
}

/** Plain requests on `agent`, so it holds idle keep-alive connections afterwards. */
const warmUp = (agent: Agent, port: number, count: number) =>
  Promise.all(
    Array.from({ length: count }, () =>
      new Promise<Response>((resolve, reject) => {
        httpRequest({ agent, host: "127.0.0.1", port, path: "/healthz" }, (res) => {
          res.resume()
          res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection }))
        }).on("error", reject).end()
      })
    )
  )

/** Resolves once the service refuses new connections: it has stopped accepting. */
const refusing = (port: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500; i++) {
      const refused = await new Promise<boolean>((resolve) => {
        const socket = connect(port, "127.0.0.1")
        socket.once("connect", () => (socket.destroy(), resolve(false)))
        socket.once("error", () => resolve(true))
      })
      if (refused) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error("the service kept accepting connections")
  })

/**
 * The drain's log entry with its annotations: one JSON line, a logfmt line,
 * or the pretty logger's line with the annotations on the lines after it.
 */
const drainedLine = (output: string) => {
  const at = output.indexOf("http server drained")
  return at < 0 ? undefined : output.slice(output.lastIndexOf("\n", at) + 1)
}
/** The first value of annotation `name` in the entry. */
const field = (entry: string, name: string) => Number(new RegExp(`"?${name}"?\\s*[=:]\\s*"?(\\d+)`).exec(entry)?.[1])

const orderJson = (n: number) => JSON.stringify(sampleOrders(1, { offset: n, seed: n })[0]!.order)

describe("commerce-sync on SIGTERM with keep-alive clients", () => {
  it.scopedLive("answers the request in flight with Connection: close, closes idle connections, exits 0 within the grace period", () =>
    Effect.gen(function*() {
      const { endpoint, service } = yield* startService
      const agent = new Agent({ keepAlive: true, maxSockets: 8 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      const warm = yield* Effect.promise(() => warmUp(agent, service.port, 4))
      expect(warm.map((r) => [r.status, r.connection])).toEqual(Array(4).fill([200, "keep-alive"]))

      const inFlight = openRequest(agent, service.port, orderJson(501))
      yield* Effect.sleep("200 millis")
      const killedAt = Date.now()
      service.child.kill("SIGTERM")
      yield* refusing(service.port)
      inFlight.finish()
      const answer = yield* Effect.promise(() => inFlight.response)
      expect(answer).toEqual({ status: 202, connection: "close" })

      const exit = yield* Effect.promise(() => service.exited)
      const took = Date.now() - killedAt
      expect(exit, service.output()).toEqual({ code: 0, signal: null })
      expect(took).toBeLessThan(GRACE_MILLIS)
      const line = drainedLine(service.output())
      expect(line, service.output()).toBeDefined()
      expect(field(line!, "inFlight")).toBe(1)
      expect(field(line!, "forcedConnections")).toBe(0)
      // The order answered during the drain is on the stream.
      const records = yield* readAll(service.orders).pipe(Effect.provide(kinesisLayer({ endpoint })))
      expect(records.length).toBe(1)
    }), { timeout: 90_000 })

  it.scopedLive("cuts a request that never finishes at the end of the grace period, and still exits 0 in time", () =>
    Effect.gen(function*() {
      const { service } = yield* startService
      const agent = new Agent({ keepAlive: true, maxSockets: 8 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      yield* Effect.promise(() => warmUp(agent, service.port, 2))
      const stuck = openRequest(agent, service.port, orderJson(502))
      const cut = stuck.response.then(() => false, () => true)
      yield* Effect.sleep("200 millis")
      const killedAt = Date.now()
      service.child.kill("SIGTERM")

      const exit = yield* Effect.promise(() => service.exited)
      const took = Date.now() - killedAt
      expect(exit, service.output()).toEqual({ code: 0, signal: null })
      expect(took).toBeGreaterThanOrEqual(GRACE_MILLIS - 100)
      // The grace period plus the producers' flush, well within ECS's 30 s.
      expect(took).toBeLessThan(GRACE_MILLIS + 2_000)
      expect(yield* Effect.promise(() => cut)).toBe(true)
      const line = drainedLine(service.output())
      expect(line, service.output()).toBeDefined()
      expect(field(line!, "forcedConnections")).toBe(1)
    }), { timeout: 90_000 })
})
