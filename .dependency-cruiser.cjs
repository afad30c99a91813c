/**
 * The layout's rules, checked by test/architecture.test.ts:
 * a small core, no package reaching into another's internals, no cycles.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Modules form no import cycle: split the shared part into its own module.",
      from: { path: "^(packages|apps|examples)/" },
      to: { circular: true }
    },
    {
      name: "core-no-aws",
      severity: "error",
      comment: "core knows nothing of AWS: SDK clients live in aws, kinesis, dynamodb and runtime.",
      from: { path: "^packages/core/src/" },
      to: { path: "@aws-sdk/|@smithy/|^packages/(aws|kinesis|dynamodb)/" }
    },
    {
      name: "core-no-node-io",
      severity: "error",
      comment: "core does no Node I/O: it runs wherever Effect runs.",
      from: { path: "^packages/core/src/" },
      to: { dependencyTypes: ["core"] }
    },
    {
      name: "core-no-commerce",
      severity: "error",
      comment: "core is domain-free: the commerce events live in packages/commerce.",
      from: { path: "^packages/core/src/" },
      to: { path: "^packages/commerce/|^apps/" }
    },
    {
      name: "no-foreign-internal",
      severity: "error",
      comment: "A package's internal/ modules are its own: use the module that exports the behaviour.",
      from: { path: "^(packages|apps|examples)/([^/]+)/" },
      to: { path: "^packages/[^/]+/src/internal/", pathNot: "^packages/$2/src/internal/" }
    },
    {
      name: "runtime-no-dynamodb",
      severity: "error",
      comment: "The drivers take their state from the context; choosing DynamoDB is the app's business.",
      from: { path: "^packages/runtime/src/" },
      to: { path: "^packages/dynamodb/|@aws-sdk/client-dynamodb" }
    },
    {
      name: "no-test-helpers-in-production",
      severity: "error",
      comment: "Libraries do not ship test machinery: it lives in packages/testing.",
      from: { path: "^packages/(core|aws|cli|commerce|kinesis|dynamodb|local|redis|runtime)/src/" },
      to: { path: "^packages/testing/|vitest|fast-check" }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules|/dist/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "types", "default"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".json"]
    }
  }
}
