import { describe, expect, it } from "@effect/vitest"
import * as AwsSdkError from "../src/AwsSdkError"

const exception = (name: string, fields: object = {}) => Object.assign(new Error(`${name} happened`), { name, ...fields })

describe("AwsSdkError", () => {
  it("reads an exception's fields and names the operation in its message", () => {
    expect(AwsSdkError.fieldsOf("PutItem", exception("ThrottlingException", { $metadata: { httpStatusCode: 400 }, $fault: "client", $retryable: {} })))
      .toEqual({
        name: "ThrottlingException",
        code: undefined,
        httpStatus: 400,
        fault: "client",
        retryable: true,
        message: "PutItem: ThrottlingException: ThrottlingException happened"
      })
    expect(AwsSdkError.fieldsOf("Scan", "oops")).toMatchObject({ name: "Error", retryable: false, message: "Scan: Error: oops" })
  })

  it("calls 5xx, server faults, dropped connections and timeouts transient, and nothing else", () => {
    const transient = (cause: unknown) => AwsSdkError.isTransientFault(AwsSdkError.fieldsOf("op", cause))
    expect(transient(exception("InternalFailure", { $metadata: { httpStatusCode: 500 } }))).toBe(true)
    expect(transient(exception("Unknown", { $fault: "server" }))).toBe(true)
    expect(transient(exception("Error", { code: "ECONNRESET" }))).toBe(true)
    expect(transient(exception("TimeoutError"))).toBe(true)
    expect(transient(exception("ValidationException", { $metadata: { httpStatusCode: 400 }, $fault: "client" }))).toBe(false)
    expect(transient(exception("AccessDeniedException", { $metadata: { httpStatusCode: 403 } }))).toBe(false)
  })
})
