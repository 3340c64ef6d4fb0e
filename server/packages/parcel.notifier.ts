import { and, eq } from 'drizzle-orm';
import type { AccessEvent } from '../../access/index.ts';
import { newId, notificationAttempts, residents, units, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import {
  createEmailChannel,
  createNoticeBatcher,
  createNotifyDispatcher,
  createWebhookChannel,
  type Channel,
  type DeliveryFailure,
  type NoticeParcel,
} from '../notify/index.ts';
import type { PickupCodeService } from '../pickup/pickup.codes.ts';
import type { VacationHoldService } from '../pickup/vacation.holds.ts';
import type { LocationKind } from './slot.assigner.ts';

export interface CheckedInParcel {
  packageId: string;
  residentId: string | null;
  unitId: string;
  trackingNumber: string;
  carrier: string;
  location: { kind: LocationKind; label: string };
}

export interface ReminderParcel {
  packageId: string;
  trackingNumber: string;
  carrier: string;
  location: { kind: LocationKind; label: string };
}

const noticeLocation = (l: { kind: LocationKind; label: string }): NoticeParcel['location'] => ({
  kind: l.kind === 'shelf' ? 'slot' : l.kind,
  label: l.label,
});

/**
 * Tells residents about their parcels: check-ins are batched per resident (one message per
 * batch, not per parcel) and sent by every configured channel, each attempt stored so staff see
 * what failed. A parcel addressed to a unit tells every resident living there.
 */
export interface ParcelNotifier {
  readonly channels: readonly string[];
  parcelCheckedIn(parcel: CheckedInParcel): Promise<void>;
  /** Close every open batch now (the carrier's visit ended). */
  flush(): void;
  /**
   * One reminder to one resident about parcels still waiting; sent at once (the reminder job
   * already groups a resident's parcels). Resolves when the notice is handed to the channels.
   */
  remind(residentId: string, parcels: ReminderParcel[], waitingDays: number): Promise<boolean>;
  /**
   * The check-in notice that was held while the resident was away, sent now (with a fresh
   * pickup code). False when nothing was sent (no channels, resident gone, on hold again).
   */
  releaseHeld(residentId: string, parcels: ReminderParcel[]): Promise<boolean>;
  failures(): DeliveryFailure[];
  close(): Promise<void>;
}

export function createParcelNotifier(deps: {
  db: Db;
  site: SiteConfig;
  clock: Clock;
  log: Logger;
  /** Overrides for tests (e.g. shorter retries). */
  retryDelaysMs?: number[];
  /** Pickup codes in the e-mail, vacation holds, and where held notices are recorded. */
  pickup?: {
    codes: PickupCodeService;
    holds: VacationHoldService;
    record: (event: AccessEvent) => Promise<boolean>;
  };
}): ParcelNotifier {
  const { db, site, clock } = deps;
  const siteId = site.site.id;
  const log = deps.log.child({ component: 'notify' });
  const cfg = site.notifications;
  const channels: Channel[] = [];
  if (cfg.email)
    channels.push(
      createEmailChannel({
        host: cfg.email.host,
        port: cfg.email.port,
        secure: cfg.email.tls === 'tls' ? true : cfg.email.tls === 'starttls' ? 'starttls' : false,
        ...(cfg.email.username
          ? { auth: { user: cfg.email.username, pass: cfg.email.password ?? '' } }
          : {}),
        from: cfg.email.from,
        connectionTimeoutMs: 10_000,
      }),
    );
  if (cfg.webhook)
    channels.push(
      createWebhookChannel({ url: cfg.webhook.url, secret: cfg.webhook.secret, timeoutMs: 10_000 }),
    );
  if (channels.length === 0)
    log.info('resident notifications are off: no e-mail or webhook in the site file');

  const dispatcher = createNotifyDispatcher({
    channels,
    clock,
    log,
    ...(deps.retryDelaysMs ? { retry: { delaysMs: deps.retryDelaysMs } } : {}),
    attempts: {
      async record(a) {
        await db
          .insert(notificationAttempts)
          .values({
            id: a.id,
            siteId,
            noticeId: a.noticeKey,
            residentId: noticeResidents.get(a.noticeKey) ?? null,
            channel: a.channel,
            attempt: a.attempt,
            at: new Date(a.at),
            ok: a.ok,
            error: a.error ?? null,
            nextAttemptAt: a.nextAttemptAt ? new Date(a.nextAttemptAt) : null,
            packageIds: noticeParcels.get(a.noticeKey) ?? [],
            kind: noticeKinds.get(a.noticeKey) ?? 'checked_in',
          })
          .onConflictDoNothing();
      },
    },
  });
  const noticeResidents = new Map<string, string>();
  const noticeParcels = new Map<string, string[]>();
  const noticeKinds = new Map<string, 'checked_in' | 'reminder'>();

  const emailOn = channels.some((c) => c.name === 'email');
  const publicUrl = cfg.publicUrl?.replace(/\/+$/, '');

  /**
   * A check-in notice to one resident, unless they are away: then each parcel's timeline says the
   * notice was held, and the reminder job's pass sends it when the hold ends.
   */
  const noticeCheckedIn = async (
    residentId: string,
    parcels: NoticeParcel[],
    afterHold: boolean,
  ): Promise<boolean> => {
    const [r] = await db
      .select({
        name: residents.name,
        email: residents.email,
        unit: units.label,
        status: residents.status,
      })
      .from(residents)
      .innerJoin(units, eq(units.id, residents.unitId))
      .where(and(eq(residents.id, residentId), eq(residents.siteId, siteId)));
    if (!r || r.status !== 'active') return false;
    const pickup = deps.pickup;
    const now = clock.now();
    const hold = pickup ? await pickup.holds.activeHold(residentId, now) : null;
    if (pickup && hold) {
      for (const p of parcels)
        await pickup.record({
          id: newId(now),
          at: now,
          type: 'notice_held',
          packageId: p.id,
          residentId,
          details: { holdId: hold.id, until: new Date(hold.endsAt).toISOString() },
        });
      return false;
    }
    // A code only travels by e-mail: without an address it would reach nobody.
    const issued =
      pickup && emailOn && r.email ? await pickup.codes.issue(residentId, 'checked_in') : null;
    const id = newId(clock.now());
    noticeResidents.set(id, residentId);
    noticeParcels.set(
      id,
      parcels.map((p) => p.id),
    );
    dispatcher.dispatch({
      id,
      at: clock.now(),
      residentId,
      residentName: r.name,
      ...(r.email ? { email: r.email } : {}),
      unit: r.unit,
      parcels,
      ...(issued && pickup ? { pickup: await pickup.codes.noticePart(issued) } : {}),
      ...(pickup && publicUrl
        ? { holdUrl: `${publicUrl}/api/pickup/hold/${pickup.holds.signLink(residentId)}` }
        : {}),
      ...(afterHold ? { afterHold: true } : {}),
      siteName: site.site.name,
    });
    return true;
  };

  const batcher = createNoticeBatcher<NoticeParcel>({
    clock,
    log,
    quietMs: cfg.batchQuietMs,
    onBatch: (batch) => {
      noticeCheckedIn(batch.residentKey, batch.parcels, false).catch((err: unknown) =>
        log.error('could not prepare a notice', { err }),
      );
    },
  });

  return {
    channels: channels.map((c) => c.name),
    async parcelCheckedIn(p) {
      if (channels.length === 0) return;
      const parcel: NoticeParcel = {
        id: p.packageId,
        trackingNumber: p.trackingNumber,
        carrier: p.carrier,
        location: noticeLocation(p.location),
      };
      const to = p.residentId
        ? [p.residentId]
        : (
            await db
              .select({ id: residents.id })
              .from(residents)
              .where(and(eq(residents.unitId, p.unitId), eq(residents.status, 'active')))
          ).map((r) => r.id);
      for (const residentId of to) batcher.add(residentId, parcel);
    },
    flush: () => void batcher.flush(),
    async releaseHeld(residentId, parcels) {
      if (channels.length === 0 || parcels.length === 0) return false;
      return noticeCheckedIn(
        residentId,
        parcels.map((p) => ({
          id: p.packageId,
          trackingNumber: p.trackingNumber,
          carrier: p.carrier,
          location: noticeLocation(p.location),
        })),
        true,
      );
    },
    async remind(residentId, parcels, waitingDays) {
      if (channels.length === 0 || parcels.length === 0) return false;
      // Away: no reminders either; the notice after the hold lists what still waits.
      if (deps.pickup && (await deps.pickup.holds.activeHold(residentId, clock.now())))
        return false;
      const [r] = await db
        .select({ name: residents.name, email: residents.email, unit: units.label })
        .from(residents)
        .innerJoin(units, eq(units.id, residents.unitId))
        .where(and(eq(residents.id, residentId), eq(residents.siteId, siteId)));
      if (!r) return false;
      const id = newId(clock.now());
      noticeResidents.set(id, residentId);
      noticeKinds.set(id, 'reminder');
      noticeParcels.set(
        id,
        parcels.map((p) => p.packageId),
      );
      dispatcher.dispatch({
        id,
        at: clock.now(),
        kind: 'reminder',
        waitingDays,
        residentId,
        residentName: r.name,
        ...(r.email ? { email: r.email } : {}),
        unit: r.unit,
        parcels: parcels.map((p) => ({
          id: p.packageId,
          trackingNumber: p.trackingNumber,
          carrier: p.carrier,
          location: noticeLocation(p.location),
        })),
        siteName: site.site.name,
      });
      return true;
    },
    failures: () => dispatcher.failures(),
    async close() {
      batcher.close();
      await dispatcher.close();
      for (const c of channels) await c.close?.();
    },
  };
}
