import { describe, expect, it } from "@effect/vitest"
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb"
import { KinesisClient, ListStreamsCommand } from "@aws-sdk/client-kinesis"
import { ConfigProvider, Effect, Exit, Redacted, Scope } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AwsClient from "../src/AwsClient"
import * as AwsClientOptions from "../src/AwsClientOptions"

describe("AwsClientOptions.clientConfig", () => {
  it("leaves region, endpoint and credentials to the SDK's chains, with one SDK attempt", () => {
    expect(AwsClientOptions.clientConfig({})).toEqual({ maxAttempts: 1 })
    expect(AwsClientOptions.clientConfig({ region: "eu-west-1" })).toEqual({ region: "eu-west-1", maxAttempts: 1 })
  })

  it("an explicit endpoint gets a region to sign with; plain http endpoints get dummy credentials, and explicit credentials win", () => {
    expect(AwsClientOptions.clientConfig({ endpoint: "https://dynamodb.eu-west-1.amazonaws.com" })).toEqual({
      region: "us-east-1",
      maxAttempts: 1,
      endpoint: "https://dynamodb.eu-west-1.amazonaws.com"
    })
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

  it.effect("passes no region or endpoint; gives dummy credentials only for a configured plain-http endpoint without configured credentials", () =>
    Effect.gen(function*() {
      expect(yield* read({})).toEqual({})
      expect(yield* read({ AWS_REGION: "eu-central-1", AWS_ENDPOINT_URL: "https://all:1" })).toEqual({})
      expect(yield* read({ AWS_ENDPOINT_URL: "https://all:1", AWS_ENDPOINT_URL_SQS: "http://sqs:2" })).toEqual({ credentials: AwsClientOptions.localCredentials })
      expect(yield* read({ AWS_ENDPOINT_URL_KINESIS: "http://kinesis:3" })).toEqual({})
      expect(yield* read({ AWS_ENDPOINT_URL_SQS: "http://sqs:2", AWS_ACCESS_KEY_ID: "AKID" })).toEqual({})
      expect(yield* read({ AWS_ENDPOINT_URL_SQS: "http://sqs:2", AWS_PROFILE: "dev" })).toEqual({})
      expect(yield* read({ AWS_ENDPOINT_URL_SQS: "http://sqs:2", AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true" })).toEqual({})
    }))
})

/**
 * The SDK reads the process environment and the shared config file when a
 * client resolves its configuration: each test sets both, builds eddy's
 * client, and restores the environment.
 */
const withEnv = <A>(env: Record<string, string | undefined>, body: () => Promise<A>): Promise<A> => {
  const keys = ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"]
  const saved = new Map(keys.map((k) => [k, process.env[k]]))
  for (const k of keys) delete process.env[k]
  Object.assign(process.env, { AWS_EC2_METADATA_DISABLED: "true", AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "secret" })
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]
  else process.env[k] = v
  return body().finally(() => {
    for (const [k, v] of saved) if (v === undefined) delete process.env[k]
    else process.env[k] = v
  })
}

/** Where `client` sends its request: captured as the request leaves, then the call is stopped. */
const targetOf = async (client: KinesisClient | DynamoDBClient, command: ListStreamsCommand | ListTablesCommand): Promise<string> => {
  let target = ""
  client.middlewareStack.add(
    () => async (args) => {
      const request = args.request as { protocol: string; hostname: string; port?: number }
      target = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ""}`
      throw new Error("stopped before sending")
    },
    { step: "finalizeRequest" }
  )
  await (client.send as (c: unknown) => Promise<unknown>)(command).catch((e) => {
    if (target === "") throw e
  })
  return target
}

describe("region and endpoints from the SDK's chains", () => {
  const dir = mkdtempSync(join(tmpdir(), "eddy-aws-"))
  const configFile = join(dir, "config")
  writeFileSync(
    configFile,
    [
      "[default]",
      "region = eu-west-1",
      "",
      "[profile local]",
      "region = ap-south-1",
      "endpoint_url = http://127.0.0.1:4599",
      // With AWS_PROFILE set, the SDK takes credentials from the profile, not the environment.
      "aws_access_key_id = AKID",
      "aws_secret_access_key = secret",
      ""
    ].join("\n")
  )
  const kinesis = (options: AwsClientOptions.Options) =>
    Effect.runPromise(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const client = yield* Scope.extend(AwsClient.scoped((config) => new KinesisClient(config), options), scope)
      return { client, close: Scope.close(scope, Exit.void) }
    }))
  const fromEnv = () => Effect.runPromise(Effect.withConfigProvider(AwsClientOptions.config("KINESIS"), ConfigProvider.fromEnv()))

  it("with no AWS_REGION, the profile's region: the client calls eu-west-1", () =>
    withEnv({ AWS_CONFIG_FILE: configFile }, async () => {
      const { client, close } = await kinesis(await fromEnv())
      expect(await client.config.region()).toBe("eu-west-1")
      expect(await targetOf(client, new ListStreamsCommand({}))).toBe("https://kinesis.eu-west-1.amazonaws.com")
      await Effect.runPromise(close)
    }))

  it("AWS_REGION wins over the profile", () =>
    withEnv({ AWS_CONFIG_FILE: configFile, AWS_REGION: "ca-central-1" }, async () => {
      const { client, close } = await kinesis(await fromEnv())
      expect(await client.config.region()).toBe("ca-central-1")
      await Effect.runPromise(close)
    }))

  it("AWS_ENDPOINT_URL_KINESIS, the profile's endpoint_url, and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS are honoured", () =>
    withEnv({ AWS_CONFIG_FILE: configFile, AWS_ENDPOINT_URL_KINESIS: "http://127.0.0.1:4598" }, async () => {
      const first = await kinesis(await fromEnv())
      expect(await targetOf(first.client, new ListStreamsCommand({}))).toBe("http://127.0.0.1:4598")
      await Effect.runPromise(first.close)

      delete process.env.AWS_ENDPOINT_URL_KINESIS
      process.env.AWS_PROFILE = "local"
      const second = await kinesis(await fromEnv())
      expect(await second.client.config.region()).toBe("ap-south-1")
      expect(await targetOf(second.client, new ListStreamsCommand({}))).toBe("http://127.0.0.1:4599")
      await Effect.runPromise(second.close)

      process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "true"
      const third = await kinesis(await fromEnv())
      expect(await targetOf(third.client, new ListStreamsCommand({}))).toBe("https://kinesis.ap-south-1.amazonaws.com")
      await Effect.runPromise(third.close)
    }))

  it("an explicit endpoint (an emulator) wins over the configured ones", () =>
    withEnv({ AWS_CONFIG_FILE: configFile, AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:4598" }, async () => {
      const client = new DynamoDBClient(AwsClient.config({ endpoint: "http://127.0.0.1:4597" }))
      expect(await targetOf(client, new ListTablesCommand({}))).toBe("http://127.0.0.1:4597")
      client.destroy()
    }))

  it.effect("cleans up", () => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
})
