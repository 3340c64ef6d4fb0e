/**
 * Public surface of the access layer: Wiegand formats and decoding, keypad bursts, PIN entry and
 * edge-timing reassembly. Pure code: no I/O, time only through an injected Clock.
 */
export {
  BUILTIN_FORMATS,
  MAX_FIELD_BITS,
  MAX_FRAME_BITS,
  bitRange,
  createFormatRegistry,
  encodeCard,
  fieldRange,
  parityBitFor,
  validateFormat,
  type CardFields,
  type FieldSpan,
  type FormatIssue,
  type FormatRegistry,
  type ParityKind,
  type ParityRule,
  type ValueRange,
  type WiegandFormat,
  type WiegandFormatSpec,
} from './wiegand.formats.ts';
export {
  decodeFrame,
  describeBits,
  type CardCandidate,
  type DecodeFailureReason,
  type DecodeResult,
  type FrameBits,
} from './wiegand.decoder.ts';
export {
  KEYPAD_KEYS,
  decodeKeyBurst,
  encodeKeyBurst,
  isKeypadKey,
  type KeyBurstMode,
  type KeyDecodeResult,
  type KeypadKey,
} from './keypad.decoder.ts';
export {
  createPinAssembler,
  type PinAssembler,
  type PinAssemblerOptions,
  type PinResult,
} from './pin.assembler.ts';
export {
  createEdgeDecoder,
  type EdgeDecoder,
  type EdgeDecoderOptions,
  type EdgeDecoderStats,
  type EdgeErrorReason,
  type FrameMeta,
  type WiegandLine,
} from './wiegand.edges.ts';
export type {
  AccessEvent,
  AccessEventType,
  AlarmKind,
  DecisionReason,
  DenyReason,
} from './access.events.ts';
export {
  createAccessDecider,
  matchCodeHash,
  type AccessDecider,
  type AccessDeciderOptions,
  type Decision,
  type KeypadOutcome,
  type LockoutNotice,
  type ReaderInfo,
} from './access.decider.ts';
export {
  cardKey,
  EMPTY_SNAPSHOT,
  type AccessSnapshot,
  type CardEntry,
  type CarrierCodeEntry,
} from './access.snapshot.ts';
export {
  createScheduleCheck,
  type AccessSchedule,
  type ScheduleWindow,
  type Weekday,
} from './access.schedule.ts';
export {
  PICKUP_CODE_LENGTH,
  pickupCodeRefusal,
  pickupTokenFrom,
  type PickupCodeEntry,
} from './pickup.codes.ts';
export { createKeypadGuard, type KeypadGuard, type KeypadGuardOptions } from './keypad.guard.ts';
export {
  createDoorMachine,
  type DoorAlarm,
  type DoorMachine,
  type DoorMachineConfig,
  type DoorMachineOptions,
  type DoorMachineStatus,
  type DoorPhase,
  type GrantContext,
  type GrantResult,
} from './door.machine.ts';
