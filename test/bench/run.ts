/**
 * Runs the benchmarks: every `*.bench.ts` beside this file, or those whose
 * names contain one of the arguments (`pnpm bench processor producer`).
 * Each prints its figures beside a baseline measured in the same run.
 */
import { readdirSync } from "node:fs"
import { dirname } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const filters = process.argv.slice(2)
const benches = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()

if (benches.length === 0) {
  console.error(`no benchmark matches ${filters.join(", ")}; available: ${readdirSync(here).filter((f) => f.endsWith(".bench.ts")).join(", ")}`)
  process.exit(1)
}
for (const file of benches) {
  console.log(`\n## ${file.replace(".bench.ts", "")}\n`)
  const bench = (await import(pathToFileURL(`${here}/${file}`).href)) as { run: () => Promise<void> }
  await bench.run()
}
