/**
 * The Lambda entry: the commerce pipelines behind Kinesis event-source
 * mappings, state in DynamoDB (`EDDY_AGGREGATE_TABLE`, `EDDY_DEDUP_TABLE`,
 * see `state.ts`), dead letters where `EDDY_DEAD_LETTER` says
 * (`sqs:<queue URL>` when deployed with template.yaml). Handler:
 * `lambda.handler` in the bundle `dist/lambda.mjs`.
 */
import * as Lambda from "@eddy/runtime/Lambda"
import { Layer } from "effect"
import { pipelines } from "./pipelines"
import * as State from "./state"

export const handler: Lambda.Handler = Lambda.handler({
  pipelines,
  layer: Layer.merge(State.layerConfig, State.deadLetterConfig)
})
