/** The JSON values monoid states serialise to; stores persist these. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
