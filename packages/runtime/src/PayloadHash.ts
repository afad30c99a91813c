/**
 * The claims' payload hash on Node: the same digest as
 * `Deduper.payloadHashOf` (sha-256, hex), with Node's native one-shot
 * `crypto.hash` (Node 20.12+), several times faster than core's portable one.
 * Both drivers pass it to the Processor; pass it too when you build one yourself on Node.
 */
import * as Crypto from "node:crypto"

/** The SHA-256 of `data` as hex, with Node's native hash. */
export const sha256Hex = (data: Uint8Array): string => Crypto.hash("sha256", data, "hex")
