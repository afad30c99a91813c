/**
 * The ECS entry: the commerce pipelines as a long-lived worker on the streams
 * `EDDY_STREAMS` (or `EDDY_STREAM_NAME`: names or ARNs, comma-separated, so
 * one task can serve both the order and the product streams), sharing their
 * shards with the other tasks through the lease table `EDDY_LEASE_TABLE`
 * (checkpoints every `EDDY_CHECKPOINT_INTERVAL` or `EDDY_CHECKPOINT_RECORDS`,
 * default 5 seconds or 10,000 records); state in DynamoDB (see `state.ts`), dead
 * letters where `EDDY_DEAD_LETTER` says, health and metrics on `PORT`
 * (`/healthz`, `/readyz`, `/metrics`). SIGTERM drains and exits 0 within
 * `EDDY_GRACE_PERIOD`. Bundled as `dist/service.mjs` for the container image.
 */
import * as Service from "@eddy/runtime/Service"
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { pipelines } from "./pipelines"
import * as State from "./state"

NodeRuntime.runMain(
  Service.run({
    pipelines,
    layer: Layer.merge(State.layerConfig, State.deadLetterConfig),
    leases: State.leasesConfig
  }),
  // The service logs JSON itself; the default pretty logger would print every line twice.
  { disablePrettyLogger: true }
)
