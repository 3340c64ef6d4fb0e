export type {
  DoorStrike,
  DoorSensor,
  CredentialReader,
  ReaderInput,
  StrikeState,
  ContactState,
} from './ports.ts';
export {
  createSimStrike,
  createSimSensor,
  createSimReader,
  type SimStrike,
  type SimSensor,
  type SimReader,
} from './door.sim.ts';
export {
  systemClock,
  manualClock,
  type Clock,
  type ManualClock,
  type TimerHandle,
} from './clock.ts';
