export { decode, encode, invalid } from "@eddy/core/Watermark"

/** Top-level attribute holding a shard's watermark (a nested map path fails while the map is missing). */
export const attribute = (shardId: string): string => `wm:${shardId}`
