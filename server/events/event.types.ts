import type { AccessEvent } from '../../access/access.events.ts';

/** An event the store refuses for good (bad data, not a connection problem). */
export interface RejectedEvent {
  event: AccessEvent;
  reason: string;
}

export interface SinkResult {
  /** Events set aside: the journal writes them to `rejected.jsonl` and moves on. */
  rejected?: RejectedEvent[];
}

/**
 * Where the journal drains to (the database). `write` gets a batch in journal order, never two
 * calls at once. It must be idempotent: after a crash a batch may be delivered again, so it stores
 * an id it already has as a no-op. Throwing means "try again later" (the journal backs off and
 * retries the same events); refusing single events for good is done by returning them.
 */
export interface EventSink {
  write(events: readonly AccessEvent[]): Promise<SinkResult | void>;
}
