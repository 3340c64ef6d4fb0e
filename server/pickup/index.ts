/**
 * Residents' pickup codes and vacation holds: codes issued with each check-in notice, fresh codes
 * by e-mail link, staff re-sends, holds that pause notices and reminders.
 */
export {
  createPickupCodeService,
  revokePickupCodesForResident,
  type IssuedPickupCode,
  type PickupCodeService,
  type PickupRevokeReason,
} from './pickup.codes.ts';
export {
  createVacationHolds,
  HOLD_LINK_MS,
  MAX_HOLD_MS,
  type HoldView,
  type VacationHoldService,
} from './vacation.holds.ts';
export { maskEmail, PICKUP_LINK_MS, pickupRoutes } from './pickup.routes.ts';
export { createPickupMailer, type PickupMailer } from './pickup.mailer.ts';
export { qrDataUrl, qrPng } from './qr.image.ts';
