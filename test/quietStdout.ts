/**
 * JSON log lines go straight to process.stdout (see runtime's Log), past
 * vitest's console capture; route them through console so that a passing
 * test prints nothing and a failing one shows what it logged.
 */
const write = (chunk: string | Uint8Array, ...rest: Array<unknown>): boolean => {
  const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8")
  console.log(text.endsWith("\n") ? text.slice(0, -1) : text)
  const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined
  callback?.()
  return true
}
process.stdout.write = write as typeof process.stdout.write
