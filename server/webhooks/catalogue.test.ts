import { describe, expect, it } from 'vitest';
import { catalogue, fromAccessEvent, WEBHOOK_EVENT_TYPES } from './catalogue.ts';

const site = { id: 'demo', name: 'Demo building' };
const at = Date.parse('2026-11-21T09:00:00Z');

describe('webhook catalogue', () => {
  it('turns check-ins, pickups and door alarms into catalogue events under their own id', () => {
    expect(
      fromAccessEvent(
        {
          id: 'e1',
          at,
          type: 'package_checked_in',
          packageId: 'p1',
          residentId: 'r1',
          staffId: 's1',
          details: {
            trackingNumber: 'TBA1',
            carrier: 'Amazon',
            unit: '4B',
            size: 'standard',
            location: { kind: 'shelf', id: 'A-1', label: 'A1', secretish: 1 },
            placement: 'fit',
          },
        },
        site,
      ),
    ).toEqual({
      id: 'e1',
      type: 'parcel.checked_in',
      at: '2026-11-21T09:00:00.000Z',
      site,
      parcel: {
        id: 'p1',
        trackingNumber: 'TBA1',
        carrier: 'Amazon',
        unit: '4B',
        residentId: 'r1',
        size: 'standard',
        location: { kind: 'shelf', id: 'A-1', label: 'A1' },
      },
    });
    expect(
      fromAccessEvent(
        { id: 'e2', at, type: 'package_picked_up', packageId: 'p1', details: { by: 'staff' } },
        site,
      ),
    ).toMatchObject({ type: 'parcel.picked_up', parcel: { id: 'p1', by: 'staff' } });
    for (const kind of ['forced_open', 'held_open', 'offline', 'tamper', 'keypad_lockout'] as const)
      expect(fromAccessEvent({ id: kind, at, type: kind, doorId: 'front' }, site)).toMatchObject({
        type: 'door.alarm',
        alarm: { kind, doorId: 'front' },
      });
  });

  it('leaves out everything the catalogue does not offer', () => {
    for (const type of [
      'access',
      'door_opened',
      'held_open_warning',
      'alarm_cleared',
      'rex',
    ] as const)
      expect(fromAccessEvent({ id: 'x', at, type, doorId: 'front' }, site)).toBeNull();
    // A check-in without its parcel id cannot be told apart from another one: not sent.
    expect(fromAccessEvent({ id: 'x', at, type: 'package_checked_in' }, site)).toBeNull();
  });

  it('lists every event type with an example of its own type', () => {
    const list = catalogue(site);
    expect(list.map((e) => e.type)).toEqual([...WEBHOOK_EVENT_TYPES]);
    for (const e of list) expect((e.example as { type: string }).type).toBe(e.type);
  });
});
