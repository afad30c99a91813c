/**
 * The commerce-sync service: the HTTP API on `PORT` (default 8080), writing
 * to the streams the environment names (see `Sync.config`), with `/metrics`
 * for Prometheus and a JSON access log line per request. Its whole
 * configuration is checked before it starts (every problem reported at once);
 * SIGTERM stops accepting requests, then flushes the producers before the
 * process exits.
 */
import { HttpServer } from "@effect/platform"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Main from "@eddy/runtime/Main"
import { Config, Layer } from "effect"
import * as Http from "./Http"
import * as HttpConfig from "./HttpConfig"
import * as Sync from "./Sync"

const Server = Http.layerConfig().pipe(
  HttpServer.withLogAddress,
  Layer.provide(Sync.layerConfig().pipe(Layer.provide(Kinesis.layerConfig())))
)

Main.run(
  { service: "commerce-sync", config: Config.all([HttpConfig.config, Sync.config]), variables: { ...HttpConfig.variables, ...Sync.variables } },
  () => Layer.launch(Server)
)
