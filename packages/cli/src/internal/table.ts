/** Plain-text tables: a header row, a rule, left-aligned text and right-aligned numbers. */
export interface Table {
  readonly title?: string
  readonly columns: ReadonlyArray<{ readonly header: string; readonly align?: "left" | "right" }>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

export const render = (table: Table): string => {
  const widths = table.columns.map((c, i) => Math.max(c.header.length, ...table.rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (table.columns[i]?.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  const out = [
    ...(table.title !== undefined ? [table.title, ""] : []),
    line(table.columns.map((c) => c.header)),
    line(widths.map((w) => "-".repeat(w))),
    ...table.rows.map(line)
  ]
  return out.join("\n") + "\n"
}
