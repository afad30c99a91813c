/** The `eddy` command line and the operations behind it. */
export * as Cli from "./Cli"
export * as Describe from "./Describe"
export * as LocalUp from "./LocalUp"
export * as PipelinesModule from "./PipelinesModule"
export * as Query from "./Query"
export * as Redrive from "./Redrive"
export * as TablesCreate from "./TablesCreate"
