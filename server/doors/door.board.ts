import type { DoorConfig, SiteConfig } from '../config/index.ts';
import {
  createSimSensor,
  createSimStrike,
  type ContactState,
  type DoorSensor,
  type DoorStrike,
  type SimSensor,
  type SimStrike,
  type StrikeState,
} from '../../hardware/index.ts';
import type { Clock } from '../../hardware/clock.ts';

export type AlarmKind = 'forced_open' | 'held_open' | 'offline' | 'tamper' | 'keypad_lockout';

export interface DoorStatus {
  id: string;
  name: string;
  strike: 'locked' | 'unlocked';
  contact: 'open' | 'closed' | 'unknown';
  alarms: { kind: AlarmKind; since: string; detail?: string }[];
  driver: DoorConfig['driver']['kind'];
}

interface DoorEntry {
  config: DoorConfig;
  strike: DoorStrike | null;
  sensor: DoorSensor | null;
  sim?: { strike: SimStrike; sensor: SimSensor };
  offlineSince: number | null;
  offlineReason?: string;
}

/** The doors of the site with their drivers; answers GET /api/doors. */
export interface DoorBoard {
  list(): DoorStatus[];
  sim(doorId: string): { strike: SimStrike; sensor: SimSensor } | undefined;
  close(): Promise<void>;
}

function strikeView(state: StrikeState): DoorStatus['strike'] {
  // A jammed or unreachable strike is reported as an alarm; the lock state shown is what a
  // fail-secure strike does without control: stays locked.
  return state === 'unlocked' ? 'unlocked' : 'locked';
}

function contactView(state: ContactState): DoorStatus['contact'] {
  return state === 'open' || state === 'closed' ? state : 'unknown';
}

export function createDoorBoard(site: SiteConfig, clock: Clock): DoorBoard {
  const doors = new Map<string, DoorEntry>();
  for (const config of site.doors) {
    switch (config.driver.kind) {
      case 'sim': {
        const strike = createSimStrike();
        const sensor = createSimSensor('closed');
        doors.set(config.id, {
          config,
          strike,
          sensor,
          sim: { strike, sensor },
          offlineSince: null,
        });
        break;
      }
      case 'gpio':
      case 'mqtt':
        doors.set(config.id, {
          config,
          strike: null,
          sensor: null,
          offlineSince: clock.now(),
          offlineReason: `the ${config.driver.kind} door driver is not part of this build yet`,
        });
        break;
    }
  }

  return {
    list() {
      return [...doors.values()].map((d) => {
        const alarms: DoorStatus['alarms'] = [];
        if (d.offlineSince !== null) {
          alarms.push({
            kind: 'offline',
            since: new Date(d.offlineSince).toISOString(),
            ...(d.offlineReason ? { detail: d.offlineReason } : {}),
          });
        }
        return {
          id: d.config.id,
          name: d.config.name,
          strike: d.strike ? strikeView(d.strike.state) : 'locked',
          contact: d.sensor ? contactView(d.sensor.contact) : 'unknown',
          alarms,
          driver: d.config.driver.kind,
        };
      });
    },
    sim: (doorId) => doors.get(doorId)?.sim,
    async close() {
      for (const d of doors.values()) {
        await d.strike?.close();
        await d.sensor?.close();
      }
    },
  };
}
