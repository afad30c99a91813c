/**
 * The service entry (an ECS task): the same pipelines, polling the stream
 * `EDDY_STREAM_NAME` and sharing its shards with the other tasks. Health on
 * `PORT` (`/healthz`, `/readyz`, `/metrics`); SIGTERM drains and exits 0.
 */
import * as Service from "@eddy/runtime/Service"
import { NodeRuntime } from "@effect/platform-node"
import { pipelines } from "./pipelines"
import * as State from "./state"

NodeRuntime.runMain(Service.run({ pipelines, layer: State.layer, leases: State.leases }), { disablePrettyLogger: true })
