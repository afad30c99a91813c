/**
 * The images' one Dockerfile (the analytics service, and commerce-sync with
 * `--build-arg ENTRY=sync`), linted with dockerfilelint and read instruction
 * by instruction (no Docker engine needed): a build stage that bundles with
 * esbuild, and a slim Node 24 runtime stage that runs one bundle as a
 * non-root user, stops on SIGTERM and answers health checks. That each bundle
 * builds and starts is bundle.test.ts's part; here, that the file copied is
 * one of those bundles.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { entries } from "../src/bundle"

const repo = fileURLToPath(new URL("../../../", import.meta.url))

interface Instruction {
  readonly keyword: string
  readonly args: string
  readonly line: number
}

/** Instructions with their continuation lines joined; comments dropped. */
const parse = (text: string): ReadonlyArray<Instruction> => {
  const out: Array<Instruction> = []
  let pending = ""
  let start = 0
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim()
    if (pending === "" && (line === "" || line.startsWith("#"))) return
    if (pending === "") start = i + 1
    pending += line.endsWith("\\") ? `${line.slice(0, -1)} ` : line
    if (line.endsWith("\\")) return
    const space = pending.indexOf(" ")
    out.push({ keyword: pending.slice(0, space).toUpperCase(), args: pending.slice(space + 1).trim(), line: start })
    pending = ""
  })
  return out
}

interface Lint {
  readonly line: string
  readonly title: string
  readonly content: string
}

/**
 * dockerfilelint's findings, less one it gets wrong: it predates HEALTHCHECK's
 * `--start-period` (Docker 17.05) and calls the option an invalid argument.
 */
const lint = (file: string): ReadonlyArray<Lint> => {
  const run = spawnSync(`${repo}node_modules/.bin/dockerfilelint`, ["-o", "json", file], { cwd: repo, encoding: "utf8" })
  expect(run.error, "dockerfilelint must be installed (pnpm install)").toBeUndefined()
  const report = JSON.parse(run.stdout) as { files: ReadonlyArray<{ issues: ReadonlyArray<Lint> }> }
  return report.files
    .flatMap((f) => f.issues)
    .filter((i) => !(i.title === "Invalid Argument Format" && i.content.startsWith("HEALTHCHECK") && i.content.includes("--start-period=")))
}

const dockerfile = "apps/commerce-analytics/Dockerfile"

describe(dockerfile, () => {
  const instructions = parse(readFileSync(`${repo}${dockerfile}`, "utf8"))
  const stages = instructions.reduce<Array<Array<Instruction>>>((acc, i) => {
    if (i.keyword === "FROM") acc.push([])
    acc[acc.length - 1]?.push(i)
    return acc
  }, [])
  const build = stages[0]!
  const runtime = stages[stages.length - 1]!
  const all = (stage: ReadonlyArray<Instruction>, keyword: string) => stage.filter((i) => i.keyword === keyword).map((i) => i.args)
  const one = (stage: ReadonlyArray<Instruction>, keyword: string) => {
    const found = all(stage, keyword)
    expect(found, keyword).toHaveLength(1)
    return found[0]!
  }

  it("passes dockerfilelint", () => {
    expect(lint(dockerfile)).toEqual([])
  })

  it("has a Dockerfile.dockerignore beside it that keeps node_modules and dist out of the context", () => {
    const ignore = readFileSync(`${repo}${dockerfile}.dockerignore`, "utf8").split("\n")
    expect(ignore).toEqual(expect.arrayContaining(["**/node_modules", "**/dist"]))
  })

  it("builds on Node 24: installs from the lockfile and runs the bundle script", () => {
    expect(stages).toHaveLength(2)
    expect(one(build, "FROM")).toBe("node:24-bookworm-slim AS build")
    const runs = all(build, "RUN").join("\n")
    expect(runs).toContain("--frozen-lockfile")
    expect(runs).toContain("pnpm --filter @eddy/commerce-analytics bundle")
    const scripts = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).scripts
    expect(scripts.bundle).toBe("tsx src/bundle.ts")
    for (const copy of all(build, "COPY").filter((c) => !c.startsWith("--"))) {
      for (const source of copy.split(/\s+/).slice(0, -1)) expect(existsSync(`${repo}${source}`), `COPY ${source}`).toBe(true)
    }
  })

  it("runs the bundle ENTRY names (service by default) on node:24-bookworm-slim as a non-root user in production mode", () => {
    expect(one(runtime, "FROM")).toBe("node:24-bookworm-slim")
    expect(one(runtime, "ARG")).toBe("ENTRY=service")
    expect(entries.service).toBeDefined()
    expect(entries.sync).toBeDefined()
    const copied = one(runtime, "COPY").split(/\s+/)
    expect(copied[0]).toBe("--from=build")
    expect(copied[1]).toBe("/repo/apps/commerce-analytics/dist/${ENTRY}.mjs")
    expect(one(runtime, "RUN")).toBe(`ln -s "/app/\${ENTRY}.mjs" /app/main.mjs`)
    const user = one(runtime, "USER")
    expect(["root", "0", "0:0", "root:root"]).not.toContain(user)
    expect(one(runtime, "ENV")).toMatch(/(^|\s)NODE_ENV=production(\s|$)/)
    const command = JSON.parse(one(runtime, "CMD")) as Array<string>
    expect(command[0]).toBe("node")
    expect(command[command.length - 1]).toBe("/app/main.mjs")
    expect(one(runtime, "WORKDIR")).toBe("/app")
  })

  it("stops on SIGTERM, exposes its port and checks /healthz on it", () => {
    expect(one(runtime, "STOPSIGNAL")).toBe("SIGTERM")
    expect(one(runtime, "EXPOSE")).toBe("8080")
    expect(one(runtime, "ENV")).toMatch(/(^|\s)PORT=8080(\s|$)/)
    const health = one(runtime, "HEALTHCHECK")
    expect(health).toMatch(/--interval=\d+s/)
    expect(health).toMatch(/CMD \["node", "-e", ".*\/healthz.*"\]/)
    expect(health).toContain("process.env.PORT")
  })
})
