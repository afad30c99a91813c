export * as DeadLetterSinks from "./DeadLetterSinks"
export * as Emf from "./Emf"
export * as Lambda from "./Lambda"
export * as Log from "./Log"
