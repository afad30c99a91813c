/** kinesalite in a process of its own for the service benchmark: prints its endpoint, then serves until killed. */
import { Kinesalite } from "@eddy/local"
import { Effect } from "effect"

Effect.runFork(Effect.scoped(Effect.flatMap(Kinesalite.start(), ({ endpoint }) => Effect.zipRight(Effect.sync(() => console.log(endpoint)), Effect.never))))
