/**
 * The Lambda entry: the commerce pipelines behind Kinesis event-source
 * mappings, state in DynamoDB (`EDDY_AGGREGATE_TABLE`, `EDDY_DEDUP_TABLE`,
 * see `state.ts`), dead letters where `EDDY_DEAD_LETTER` says
 * (`sqs:<queue URL>` when deployed with template.yaml). Handler:
 * `lambda.handler` in the bundle `dist/lambda.mjs`.
 *
 * The whole configuration is checked as the module loads (Lambda's init), so
 * a bad deployment fails the container with every problem listed, before any
 * batch is taken.
 */
import * as ConfigReport from "@eddy/runtime/ConfigReport"
import * as Lambda from "@eddy/runtime/Lambda"
import * as Main from "@eddy/runtime/Main"
import * as Log from "@eddy/runtime/Log"
import { Config, Layer } from "effect"
import { pipelines } from "./pipelines"
import * as State from "./state"

ConfigReport.loadSync(
  Config.all([Lambda.settingsConfig, State.tablesConfig, State.deadLetterTargetConfig, Log.levelConfig]),
  { ...State.variables, ...Main.logVariables }
)

export const handler: Lambda.Handler = Lambda.handler({
  pipelines,
  layer: Layer.merge(State.layerConfig, State.deadLetterConfig)
})
