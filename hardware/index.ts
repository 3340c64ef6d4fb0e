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
export {
  createGpioDoorDriver,
  DEFAULT_GPIO_TIMING,
  type ChildLike,
  type GpioDoorConfig,
  type GpioDoorDriver,
  type GpioDoorDriverOptions,
  type GpioLog,
  type GpioLogLevel,
  type GpioTiming,
  type GpioTool,
  type SpawnLike,
} from './door.gpio.ts';
// MQTT door driver: types only, so importing this index never loads the `mqtt` package (the
// driver factory imports ./door.mqtt.ts lazily). The topic mapping is pure and cheap.
export type {
  MqttDoorDriver,
  MqttDoorDriverOptions,
  MqttDoorDriverStats,
  MqttDoorDriverStatus,
  MqttDriverLog,
} from './door.mqtt.ts';
export {
  MQTT_TOPIC_TABLE,
  MAX_PAYLOAD_BYTES as MQTT_MAX_PAYLOAD_BYTES,
  createMqttDialect,
  supportsMultipleReaders,
  type ControllerEvent,
  type JunkCode,
  type MqttDialect,
  type MqttDoorConfig,
  type MqttFirmware,
  type ParseOutcome,
  type TopicRow,
} from './mqtt.topics.ts';
