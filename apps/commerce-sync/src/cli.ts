/** The `eddy-commerce` command: `eddy-commerce generate --orders N --products M --rate R`. */
import { NodeRuntime } from "@effect/platform-node"
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

const command = Command.parse(process.argv.slice(2))
if (Either.isLeft(command)) {
  process.stderr.write(`eddy-commerce: ${command.left.message}\nRun eddy-commerce --help for usage.\n`)
  process.exitCode = 2
} else if (command.right._tag === "Help") {
  process.stdout.write(Command.help)
} else {
  NodeRuntime.runMain(generate(command.right.args))
}
