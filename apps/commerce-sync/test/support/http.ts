/** Plain HTTP requests with Node's fetch, as a client of the API would send them. */
import { Effect } from "effect"

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

/** Sends `body` as JSON, or as is when it is a string (for malformed JSON). */
export const request = (
  url: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) }
  })

export const post = (url: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  request(url, "POST", path, body, headers)
