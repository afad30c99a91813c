import { describe, expect, it } from "@effect/vitest"
import { defaultProvider } from "../src/lambdaCredentials"

describe("the Lambda bundle's credentials", () => {
  const variables = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"] as const
  const withEnv = async <A>(env: Partial<Record<(typeof variables)[number], string>>, body: () => Promise<A>): Promise<A> => {
    const saved = variables.map((name) => [name, process.env[name]] as const)
    for (const name of variables) delete process.env[name]
    Object.assign(process.env, env)
    try {
      return await body()
    } finally {
      for (const [name, value] of saved) value === undefined ? delete process.env[name] : (process.env[name] = value)
    }
  }

  it("are the role's credentials Lambda puts in the environment", async () => {
    const credentials = await withEnv(
      { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "token" },
      () => defaultProvider()()
    )
    expect(credentials).toMatchObject({ accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "token" })
  })

  it("fail, naming the variables, when the environment has none", async () => {
    await expect(withEnv({}, () => defaultProvider()())).rejects.toThrow(/AWS_ACCESS_KEY_ID|environment/i)
  })
})
