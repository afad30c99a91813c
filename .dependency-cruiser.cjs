/**
 * The layout's rules, checked by test/architecture.test.ts:
 * a small core, no package reaching into another's internals, no cycles.
 */
/** A rule that fails the check (`from` may not import `to`), with what to do instead. */
const forbid = (name, comment, from, to) => ({ name, severity: "error", comment, from, to })

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    forbid("no-circular", "Modules form no import cycle: split the shared part into its own module.",
      { path: "^(packages|apps|examples)/" },
      { circular: true }),
    forbid("core-no-aws", "core knows nothing of AWS: SDK clients live in aws, kinesis, dynamodb and runtime.",
      { path: "^packages/core/src/" },
      { path: "@aws-sdk/|@smithy/|^packages/(aws|kinesis|dynamodb)/" }),
    forbid("core-no-node-io", "core does no Node I/O: it runs wherever Effect runs.",
      { path: "^packages/core/src/" },
      { dependencyTypes: ["core"] }),
    forbid("core-no-commerce", "core is domain-free: the commerce events live in packages/commerce.",
      { path: "^packages/core/src/" },
      { path: "^packages/commerce/|^apps/" }),
    forbid("no-foreign-internal", "A package's internal/ modules are its own: use the module that exports the behaviour.",
      { path: "^(packages|apps|examples)/([^/]+)/" },
      { path: "^packages/[^/]+/src/internal/", pathNot: "^packages/$2/src/internal/" }),
    forbid("runtime-no-dynamodb", "The drivers take their state from the context; choosing DynamoDB is the app's business.",
      { path: "^packages/runtime/src/" },
      { path: "^packages/dynamodb/|@aws-sdk/client-dynamodb" }),
    forbid("no-test-helpers-in-production", "Libraries do not ship test machinery: it lives in packages/testing.",
      { path: "^packages/(core|aws|cli|commerce|kinesis|dynamodb|local|redis|runtime)/src/" },
      { path: "^packages/testing/|vitest|fast-check" })
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
