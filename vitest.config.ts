import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["test/bench/**", "**/node_modules/**"],
    // Logs of a passing test are noise; a failing test shows everything it printed.
    silent: "passed-only",
    setupFiles: ["test/quietStdout.ts"],
    env: {
      // Development runs on Node 20; the deployables run on Node 24, where the SDK has nothing to say.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true"
    },
    // Most files wait on emulators, Redis and child processes rather than compute: two at a time, even on 2 cores.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
