import type { NoticeParcel, ParcelNotice } from './notify.types.ts';

/**
 * Test data shared by the notice tests (e-mail, webhook, pickup code): one resident, Ada in 4B at
 * Maple Court, and a parcel on shelf B. Each test overrides what it is about.
 */
export const testParcel = (over: Partial<NoticeParcel> = {}): NoticeParcel => ({
  id: 'p1',
  trackingNumber: '1Z999',
  carrier: 'UPS',
  location: { kind: 'slot', label: 'Shelf B, slot B4' },
  ...over,
});

export const testNotice = (over: Partial<ParcelNotice> = {}): ParcelNotice => ({
  id: 'n1',
  at: 0,
  residentId: 'r1',
  residentName: 'Ada Lovelace',
  email: 'ada@example.org',
  unit: '4B',
  parcels: [testParcel()],
  siteName: 'Maple Court',
  ...over,
});
