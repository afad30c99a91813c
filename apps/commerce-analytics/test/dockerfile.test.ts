/**
 * The service's Dockerfile, read instruction by instruction (no Docker
 * engine needed): a build stage that bundles with esbuild, a slim runtime
 * stage that runs the bundle as a non-root user, drains on SIGTERM and
 * answers health checks. That the bundle builds is bundle.test.ts's part.
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const text = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8")

interface Instruction {
  readonly keyword: string
  readonly args: string
}

/** Instructions with their continuation lines joined; comments dropped. */
const instructions: ReadonlyArray<Instruction> = text
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"))
  .map((line) => {
    const space = line.indexOf(" ")
    return { keyword: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() }
  })

/** Stages: each FROM and the instructions after it. */
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

describe("Dockerfile", () => {
  it("builds in a node:20 stage: installs from the lockfile and runs this package's bundle script", () => {
    expect(stages).toHaveLength(2)
    expect(one(build, "FROM")).toBe("node:20 AS build")
    const runs = all(build, "RUN").join("\n")
    expect(runs).toContain("--frozen-lockfile")
    expect(runs).toContain("pnpm --filter @eddy/commerce-analytics bundle")
    const scripts = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).scripts
    expect(scripts.bundle).toBe("tsx src/bundle.ts")
    for (const copy of all(build, "COPY").filter((c) => !c.startsWith("--"))) {
      for (const source of copy.split(/\s+/).slice(0, -1)) expect(existsSync(`${repo}${source}`), `COPY ${source}`).toBe(true)
    }
  })

  it("runs the bundled service on node:20-slim as a non-root user in production mode", () => {
    expect(one(runtime, "FROM")).toBe("node:20-slim")
    const copied = one(runtime, "COPY")
    expect(copied).toMatch(/^--from=build \/repo\/apps\/commerce-analytics\/dist\/service\.mjs /)
    const user = one(runtime, "USER")
    expect(["root", "0", "0:0", "root:root"]).not.toContain(user)
    expect(one(runtime, "ENV")).toMatch(/(^|\s)NODE_ENV=production(\s|$)/)
    const command = JSON.parse(one(runtime, "CMD")) as Array<string>
    expect(command[0]).toBe("node")
    expect(command[command.length - 1]).toBe("/app/service.mjs")
    expect(one(runtime, "WORKDIR")).toBe("/app")
  })

  it("stops on SIGTERM, exposes the service's port and checks /healthz on it", () => {
    expect(one(runtime, "STOPSIGNAL")).toBe("SIGTERM")
    expect(one(runtime, "EXPOSE")).toBe("8080")
    expect(one(runtime, "ENV")).toMatch(/(^|\s)PORT=8080(\s|$)/)
    const health = one(runtime, "HEALTHCHECK")
    expect(health).toMatch(/--interval=\d+s/)
    expect(health).toMatch(/CMD \["node", "-e", ".*\/healthz.*"\]/)
    expect(health).toContain("process.env.PORT")
  })
})
