import { Effect, type Scope } from "effect"
import type { Server } from "node:http"
import type { AddressInfo } from "node:net"

/** Listens on a loopback port (0: a free one) for the scope's lifetime; the server is closed with the scope. */
export const listen = (name: string, server: Server, port = 0): Effect.Effect<{ readonly endpoint: string; readonly port: number }, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly endpoint: string; readonly port: number }, Error>((resume) => {
      server.once("error", (cause) => resume(Effect.fail(new Error(`${name} could not start: ${cause.message}`))))
      server.listen(port, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ endpoint: `http://127.0.0.1:${port}`, port }))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.closeAllConnections?.()
        server.close(() => resume(Effect.void))
      })
  )
