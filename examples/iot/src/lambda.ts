/**
 * The Lambda entry (handler `lambda.handler`): the pipelines behind a Kinesis
 * event-source mapping with `FunctionResponseTypes: ["ReportBatchItemFailures"]`.
 */
import * as Lambda from "@eddy/runtime/Lambda"
import { pipelines } from "./pipelines"
import * as State from "./state"

export const handler: Lambda.Handler = Lambda.handler({ pipelines, layer: State.layer })
