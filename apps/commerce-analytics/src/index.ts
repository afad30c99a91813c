/**
 * The commerce analytics: the pipelines, where their state lives, and reading
 * it back. The entries are modules of their own: `lambda` (the handler),
 * `service` (the ECS main), `cli` (`eddy-analytics`) and `demo`.
 */
export * as Pipelines from "./pipelines"
export * as Query from "./query"
export * as Render from "./render"
export * as State from "./state"
