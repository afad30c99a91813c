import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import * as AwsClientOptions from "../src/AwsClientOptions"

describe("AwsClientOptions.clientConfig", () => {
  it("defaults the region to us-east-1 and SDK attempts to 1, and leaves credentials to the SDK's chain", () => {
    expect(AwsClientOptions.clientConfig({})).toEqual({ region: "us-east-1", maxAttempts: 1 })
    expect(AwsClientOptions.clientConfig({ endpoint: "https://dynamodb.eu-west-1.amazonaws.com" })).toEqual({
      region: "us-east-1",
      maxAttempts: 1,
      endpoint: "https://dynamodb.eu-west-1.amazonaws.com"
    })
  })

  it("gives plain http endpoints dummy credentials, and explicit credentials win", () => {
    expect(AwsClientOptions.clientConfig({ region: "eu-west-1", endpoint: "http://127.0.0.1:4567", maxAttempts: 3 })).toEqual({
      region: "eu-west-1",
      maxAttempts: 3,
      endpoint: "http://127.0.0.1:4567",
      credentials: { accessKeyId: "local", secretAccessKey: "local" }
    })
    const credentials = { accessKeyId: "AKID", secretAccessKey: Redacted.make("secret") }
    expect(AwsClientOptions.clientConfig({ endpoint: "http://127.0.0.1:4567", credentials }).credentials).toEqual({
      accessKeyId: "AKID",
      secretAccessKey: "secret"
    })
  })
})

describe("AwsClientOptions.config", () => {
  const read = (env: Record<string, string>) =>
    AwsClientOptions.config("SQS").pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it.effect("reads AWS_REGION and the service's own endpoint before AWS_ENDPOINT_URL", () =>
    Effect.gen(function*() {
      expect(yield* read({})).toEqual({ region: "us-east-1" })
      expect(yield* read({ AWS_REGION: "eu-central-1", AWS_ENDPOINT_URL: "http://all:1" })).toEqual({ region: "eu-central-1", endpoint: "http://all:1" })
      expect(yield* read({ AWS_ENDPOINT_URL: "http://all:1", AWS_ENDPOINT_URL_SQS: "http://sqs:2", AWS_ENDPOINT_URL_KINESIS: "http://kinesis:3" })).toEqual({
        region: "us-east-1",
        endpoint: "http://sqs:2"
      })
    }))
})
