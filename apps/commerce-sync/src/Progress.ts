/**
 * The load generator's progress for a person watching: on a terminal, one
 * line redrawn in place; in a log (not a TTY), a line now and then, so CI
 * logs stay short. Then a summary.
 */
import { Effect } from "effect"
import type { Progress, Summary } from "./Generate"

/** Where progress goes: `process.stderr`, or anything shaped like it. */
export interface Output {
  readonly isTTY?: boolean
  write(text: string): unknown
}

const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })

const rate = (count: number, elapsedMillis: number): number => (elapsedMillis > 0 ? (count * 1_000) / elapsedMillis : 0)

/** `[██████░░░░] 60% 6,000/10,000 · 0 failed · 2 retried · 1,234 rec/s` */
export const line = (p: Progress, width = 24): string => {
  const done = p.sent + p.failed
  const fraction = p.total === 0 ? 1 : Math.min(1, done / p.total)
  const filled = Math.round(fraction * width)
  return `[${"█".repeat(filled)}${"░".repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${number.format(done)}/${
    number.format(p.total)
  } · ${number.format(p.failed)} failed · ${number.format(p.retried)} retried · ${number.format(rate(p.sent, p.elapsedMillis))} rec/s`
}

/** The run in a few lines: what was generated, then sent, failed, retried and records/s. */
export const summary = (s: Summary): string =>
  [
    `generated ${number.format(s.events)} events${s.invalid > 0 ? ` and ${number.format(s.invalid)} invalid records` : ""}`,
    `sent ${number.format(s.sent)} · failed ${number.format(s.failed)} · retried ${number.format(s.retried)} · ${
      number.format(s.recordsPerSecond)
    } records/s over ${(s.elapsedMillis / 1_000).toFixed(1)} s`
  ].join("\n")

export interface Reporter {
  /** Shows `progress`: always the final one, others at most every 100 ms on a TTY, every 5 s otherwise. */
  readonly update: (progress: Progress) => Effect.Effect<void>
  /** Ends the in-place line on a TTY. */
  readonly finish: Effect.Effect<void>
}

export const make = (out: Output): Reporter => {
  const tty = out.isTTY === true
  const interval = tty ? 100 : 5_000
  let shownAt = -Infinity
  return {
    update: (p) =>
      Effect.sync(() => {
        const final = p.sent + p.failed >= p.total
        if (!final && p.elapsedMillis - shownAt < interval) return
        shownAt = p.elapsedMillis
        out.write(tty ? `\r\x1b[2K${line(p)}` : `${line(p)}\n`)
      }),
    finish: Effect.sync(() => {
      if (tty) out.write("\n")
    })
  }
}
