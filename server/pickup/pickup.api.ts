// Pickup codes' and vacation holds' wire shapes shared with the console (web/src/lib/pickup.ts);
// imports nothing, so the console can take it without pulling server code in.

/** A resident's vacation hold as the API lists it; times are ISO-8601. */
export interface HoldView {
  id: string;
  residentId: string;
  startsAt: string;
  endsAt: string;
  note: string;
  createdBy: string;
  createdAt: string;
  cancelledAt: string | null;
}
