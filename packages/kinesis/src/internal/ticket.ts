import { Deferred, type Either, Exit } from "effect"
import type { PutFailure } from "../ProducerError"

/** Kinesis wrote the record. */
export interface Acknowledged {
  readonly shardId: string
  readonly sequenceNumber: string
  /** The record's position inside the aggregate that carried it, if one did. */
  readonly subSequenceNumber?: number
  /** PutRecords calls it took. */
  readonly attempts: number
}

export type Outcome = Either.Either<Acknowledged, PutFailure>

/**
 * The outcomes awaited by one `put` or `putAll`: filled in record by record
 * as they settle, delivered once, when the last one does.
 */
export class Ticket {
  readonly outcomes: Array<Outcome>
  private remaining: number

  constructor(count: number, private readonly deferred: Deferred.Deferred<ReadonlyArray<Outcome>>) {
    this.outcomes = new Array(count)
    this.remaining = count
  }

  settle(index: number, outcome: Outcome): void {
    this.outcomes[index] = outcome
    if (--this.remaining === 0) Deferred.unsafeDone(this.deferred, Exit.succeed(this.outcomes))
  }
}
