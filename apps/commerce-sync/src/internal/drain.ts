/**
 * Graceful shutdown of a Node HTTP server with keep-alive clients. Closing a
 * server only stops accepting: a keep-alive connection stays open, and a
 * response sent during the shutdown would invite the client to send another
 * request on it. So this tracks connections and the requests on them, and
 * when draining answers every request with `Connection: close`, closes idle
 * connections at once and busy ones after their response, and after the
 * grace period closes whatever is left.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"

export interface DrainReport {
  /** Requests being answered when the drain began. */
  readonly inFlight: number
  /** Connections still open at the end of the grace period, closed without waiting more. */
  readonly forced: number
  readonly tookMillis: number
}

export interface Drainer {
  /** Stops accepting and closes every connection, waiting at most `graceMillis` for requests being answered. */
  readonly drain: (graceMillis: number) => Promise<DrainReport>
}

export const track = (server: Server): Drainer => {
  /** Open connections and how many requests each is answering. */
  const busy = new Map<Socket, number>()
  const responses = new Set<ServerResponse>()
  let draining = false
  let settled: (() => void) | undefined

  const closed = (socket: Socket) => {
    busy.delete(socket)
    if (draining && busy.size === 0) settled?.()
  }
  server.on("connection", (socket: Socket) => {
    busy.set(socket, 0)
    socket.once("close", () => closed(socket))
  })

  const answered = (socket: Socket, response: ServerResponse) => {
    if (!responses.delete(response)) return
    const left = (busy.get(socket) ?? 1) - 1
    if (busy.has(socket)) busy.set(socket, left)
    // Sent with keep-alive before the drain began: end the connection now it is idle.
    if (draining && left === 0) socket.end()
  }
  // Before the application's listener, so a request arriving while draining is marked first.
  server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket
    busy.set(socket, (busy.get(socket) ?? 0) + 1)
    responses.add(response)
    if (draining) response.setHeader("connection", "close")
    response.once("finish", () => answered(socket, response))
    response.once("close", () => answered(socket, response))
  })

  const drain = (graceMillis: number) =>
    new Promise<DrainReport>((resolve) => {
      const started = Date.now()
      const inFlight = responses.size
      draining = true
      server.close()
      for (const response of responses) if (!response.headersSent) response.setHeader("connection", "close")
      for (const [socket, requests] of busy) if (requests === 0) socket.destroy()
      const finish = (forced: number) => {
        clearTimeout(timer)
        settled = undefined
        resolve({ inFlight, forced, tookMillis: Date.now() - started })
      }
      const timer = setTimeout(() => {
        const forced = busy.size
        server.closeAllConnections()
        for (const socket of busy.keys()) socket.destroy()
        finish(forced)
      }, graceMillis)
      settled = () => finish(0)
      if (busy.size === 0) finish(0)
    })

  return { drain }
}
