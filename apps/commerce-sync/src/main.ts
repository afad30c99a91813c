/**
 * The commerce-sync service: the HTTP API on `PORT` (default 8080), writing
 * to the streams the environment names (see `Sync.config`). SIGTERM stops
 * accepting requests, then flushes the producers before the process exits.
 */
import { HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Layer } from "effect"
import * as Http from "./Http"
import * as Sync from "./Sync"

const Main = Http.layerConfig().pipe(
  HttpServer.withLogAddress,
  Layer.provide(Sync.layerConfig().pipe(Layer.provide(Kinesis.layerConfig())))
)

NodeRuntime.runMain(Layer.launch(Main))
