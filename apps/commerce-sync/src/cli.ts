/** The `eddy-commerce` process on `@effect/cli`: `eddy-commerce generate --orders N --products M --rate R`. */
import { Command as CliCommand, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as ConfigReport from "@eddy/runtime/ConfigReport"
import "@eddy/runtime/Main"
import { Console, Effect, Either, Layer } from "effect"
import * as Command from "./Command"
import * as Generate from "./Generate"
import * as Progress from "./Progress"
import * as Sync from "./Sync"

const generate = (args: Command.GenerateArgs) =>
  Effect.gen(function*() {
    const reporter = Progress.make(process.stderr)
    const { summary } = yield* Generate.generate({ ...args, onProgress: reporter.update })
    yield* reporter.finish
    yield* Console.log(Progress.summary(summary))
    if (summary.failed > 0) process.exitCode = 1
  }).pipe(
    Effect.provide(Sync.layerConfig().pipe(Layer.provide(Kinesis.layerConfig()))),
    Effect.catchAll((error) =>
      Effect.zipRight(
        // A configuration error lists every missing or invalid variable, in plain words.
        Console.error(`eddy-commerce: ${ConfigReport.isConfigError(error) ? ConfigReport.fromConfigError(error, Sync.variables).message : error.message}`),
        Effect.sync(() => (process.exitCode = 1))
      )
    )
  )

const command = Command.command.pipe(
  CliCommand.withSubcommands([
    Command.generate.pipe(CliCommand.withHandler((options) =>
      Either.match(Command.generateArgs(options), {
        onLeft: (error) => Effect.zipRight(Console.error(`eddy-commerce: ${error.message}`), Effect.sync(() => (process.exitCode = 2))),
        onRight: generate
      })
    ))
  ])
)

const program = CliCommand.run(command, { name: "eddy-commerce", version: "0.1.0" })(process.argv).pipe(
  // @effect/cli has printed a usage error, with the usage.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => (process.exitCode = 2))),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, { teardown: (exit, onExit) => onExit(typeof process.exitCode === "number" ? process.exitCode : exit._tag === "Failure" ? 1 : 0) })
