const datePattern = /^\d{4}-\d{2}-\d{2}$/
const timePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z$/

/** `2026-11-21` (the day's start, or its end when `end`) or `2026-11-21T10:00[:00[.000]]Z`, in epoch milliseconds. */
export const parse = (text: string, end: boolean): number | undefined => {
  const millis = datePattern.test(text) ? Date.parse(`${text}T00:00:00Z`) + (end ? 86_400_000 - 1 : 0) : timePattern.test(text) ? Date.parse(text) : NaN
  return Number.isNaN(millis) ? undefined : millis
}
