/**
 * One way to build an AWS SDK v3 client: `AwsClientOptions` decide region,
 * endpoint, credentials and attempts, every client gets the same HTTP/1.1
 * handler with timeouts (local emulators need HTTP/1.1), and the client is
 * destroyed, its sockets closed, when the scope closes.
 */
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Effect, type Scope } from "effect"
import * as AwsClientOptions from "./AwsClientOptions"

/** What every eddy client's SDK configuration holds. */
export interface Config extends AwsClientOptions.ClientConfig {
  readonly requestHandler: NodeHttpHandler
}

/** The SDK configuration for `options`. */
export const config = (options: AwsClientOptions.Options = {}): Config => ({
  ...AwsClientOptions.clientConfig(options),
  requestHandler: new NodeHttpHandler(AwsClientOptions.httpHandlerOptions)
})

/**
 * A client built by `make` from `options`, destroyed with the scope, e.g.
 * `AwsClient.scoped((config) => new KinesisClient(config), options)`.
 */
export const scoped = <Client extends { readonly destroy: () => void }>(
  make: (config: Config) => Client,
  options?: AwsClientOptions.Options
): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(() => make(config(options))), (client) => Effect.sync(() => client.destroy()))
