/**
 * The ECS entry: the commerce pipelines as a long-lived worker on the streams
 * `EDDY_STREAMS` (or `EDDY_STREAM_NAME`: names or ARNs, comma-separated, so
 * one task can serve both the order and the product streams), sharing their
 * shards with the other tasks through the lease table `EDDY_LEASE_TABLE`
 * (reads folded into one write per item every `EDDY_FLUSH_INTERVAL` or
 * `EDDY_FLUSH_RECORDS`, default 1 second or 10,000 records; checkpoints after
 * the writes every `EDDY_CHECKPOINT_INTERVAL` or `EDDY_CHECKPOINT_RECORDS`,
 * default 5 seconds or 10,000 records); state in DynamoDB (see `state.ts`), dead
 * letters where `EDDY_DEAD_LETTER` says, health and metrics on `PORT`
 * (`/healthz`, `/readyz`, `/metrics`). SIGTERM drains and exits 0 within
 * `EDDY_GRACE_PERIOD`. Bundled as `dist/service.mjs` for the container image.
 *
 * At start, before any lease is taken, it checks its whole configuration
 * (every problem reported at once), then the stream and the three tables
 * with their key schemas; what cannot work exits 1 with one message saying
 * what to fix.
 */
import * as Main from "@eddy/runtime/Main"
import * as Service from "@eddy/runtime/Service"
import type { KinesisError } from "@eddy/kinesis/Kinesis"
import * as ConfigReport from "@eddy/runtime/ConfigReport"
import * as Preflight from "@eddy/runtime/Preflight"
import { Config, type ConfigError, Effect, Layer } from "effect"
import { pipelines } from "./pipelines"
import * as Leases from "./leases"
import * as State from "./state"

Main.run(
  {
    service: "commerce-analytics",
    config: Config.all([Service.settingsConfig(), State.tablesConfig, Leases.leaseSettingsConfig, State.deadLetterTargetConfig]),
    variables: State.variables
  },
  () =>
    Effect.gen(function*() {
      const checks = [...(yield* State.tableChecks), yield* Leases.tableCheckConfig]
      return yield* Service.run<ConfigError.ConfigError | KinesisError>({
        pipelines,
        layer: Layer.merge(State.layerConfig, State.deadLetterConfig),
        leases: Leases.leasesConfig,
        preflight: checks.map((check) =>
          Effect.provide(check, State.dynamoClientConfig).pipe(
            Effect.catchIf(ConfigReport.isConfigError, (e) =>
              Effect.fail(new Preflight.CheckFailed({ transient: false, problem: ConfigReport.fromConfigError(e, State.variables).message })))
          )
        )
      })
    })
)
