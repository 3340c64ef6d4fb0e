import type { DoorConfig, ReaderConfig } from '../config/index.ts';
import {
  createSimReader,
  createSimSensor,
  createSimStrike,
  type Clock,
  type CredentialReader,
  type DoorSensor,
  type DoorStrike,
  type SimReader,
  type SimSensor,
  type SimStrike,
} from '../../hardware/index.ts';
import type { Logger } from '../log/logger.ts';

/** The hardware of one door, whatever kind of driver provides it. */
export interface DoorHardware {
  strike: DoorStrike;
  sensor: DoorSensor;
  readers: Map<string, CredentialReader>;
  /** Only for `sim` doors: the handles the /api/sim routes drive. */
  sim?: { strike: SimStrike; sensor: SimSensor; readers: Map<string, SimReader> };
  close(): Promise<void>;
}

export type DriverFactory = (
  door: DoorConfig,
  readers: readonly ReaderConfig[],
) => Promise<DoorHardware>;

/**
 * Picks the driver a door's site-file entry names. Real drivers are loaded only when a door uses
 * them, so a box without MQTT or GPIO never touches those modules.
 */
export function createDriverFactory(deps: { clock: Clock; log: Logger }): DriverFactory {
  return async (door, readers) => {
    const driverLog = deps.log.child({ door: door.id, driver: door.driver.kind });
    const log = (level: 'info' | 'warn' | 'error', msg: string, fields?: object) =>
      driverLog[level](msg, fields as Record<string, unknown> | undefined);
    switch (door.driver.kind) {
      case 'sim': {
        const strike = createSimStrike();
        const sensor = createSimSensor('closed');
        const simReaders = new Map(readers.map((r) => [r.id, createSimReader(r.id)]));
        return {
          strike,
          sensor,
          readers: new Map<string, CredentialReader>(simReaders),
          sim: { strike, sensor, readers: simReaders },
          async close() {
            await strike.close();
            await sensor.close();
            for (const r of simReaders.values()) await r.close();
          },
        };
      }
      case 'mqtt': {
        const { createMqttDoorDriver } = await import('../../hardware/door.mqtt.ts');
        return createMqttDoorDriver({
          doorId: door.id,
          readerIds: readers.map((r) => r.id),
          config: door.driver,
          clock: deps.clock,
          log,
        });
      }
      case 'gpio': {
        const { createGpioDoorDriver } = await import('../../hardware/door.gpio.ts');
        return createGpioDoorDriver({
          doorId: door.id,
          ...(readers[0] ? { readerId: readers[0].id } : {}),
          config: door.driver,
          clock: deps.clock,
          log,
        });
      }
    }
  };
}
