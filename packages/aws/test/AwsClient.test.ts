import { describe, expect, it } from "@effect/vitest"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Effect, Exit, Scope } from "effect"
import * as AwsClient from "../src/AwsClient"

class RecordingClient {
  destroyed = 0
  constructor(readonly config: AwsClient.Config) {}
  destroy(): void {
    this.destroyed++
  }
}

describe("AwsClient.scoped", () => {
  it.effect("builds the client from the options with the shared HTTP handler and destroys it once with its scope", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const client = yield* AwsClient.scoped((config) => new RecordingClient(config), { region: "eu-west-1", endpoint: "http://127.0.0.1:4567" }).pipe(
        Scope.extend(scope)
      )
      expect(client.config).toMatchObject({
        region: "eu-west-1",
        maxAttempts: 1,
        endpoint: "http://127.0.0.1:4567",
        credentials: { accessKeyId: "local", secretAccessKey: "local" }
      })
      expect(client.config.requestHandler).toBeInstanceOf(NodeHttpHandler)
      expect(client.destroyed).toBe(0)
      yield* Scope.close(scope, Exit.void)
      expect(client.destroyed).toBe(1)
    }))

  it("gives every client its own handler", () => {
    expect(AwsClient.config().requestHandler).not.toBe(AwsClient.config().requestHandler)
    expect(AwsClient.config()).toMatchObject({ maxAttempts: 1 })
    expect(AwsClient.config().region).toBeUndefined()
  })
})
