export {
  createEventJournal,
  describeError,
  invalidEventReason,
  segmentFileName,
  JournalLockedError,
  type EventJournal,
  type EventJournalOptions,
  type JournalStats,
} from './event.journal.ts';
export { createDbEventSink, isDataError, type DbEventSinkOptions } from './event.sink.ts';
export type { EventSink, RejectedEvent, SinkResult } from './event.types.ts';
export {
  canonicalEvent,
  canonicalJson,
  chainHash,
  formatVerdict,
  verifyChain,
  verifySiteChain,
  type ChainBreak,
  type ChainVerdict,
} from './audit.chain.ts';
