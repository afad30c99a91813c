/** commerce-sync: product and order changes into Kinesis, over HTTP, embedded, or generated. */
export * as Changes from "./Changes"
export * as Generate from "./Generate"
export * as Http from "./Http"
export * as HttpConfig from "./HttpConfig"
export * as Progress from "./Progress"
export * as Sync from "./Sync"
