import { randomBytes } from 'node:crypto';

let lastMs = -1;
let last: Buffer | undefined;

/**
 * UUIDv7: time-ordered, so ids sort by creation and keyset pagination on (at, id) stays stable;
 * made on the box without asking the database. Within one millisecond the random part counts up
 * (RFC 9562 method 3), so ids made in the same ms still sort in the order they were made.
 */
export function newId(nowMs: number = Date.now()): string {
  const ms = Math.max(0, Math.floor(nowMs));
  let b: Buffer;
  if (ms <= lastMs && last) {
    b = Buffer.from(last);
    // Increment the 74 random bits (bytes 6..15, skipping version/variant bits) by one.
    for (let i = 15; i >= 6; i--) {
      if (i === 8) {
        const low = (b[8]! & 0x3f) + 1;
        b[8] = (b[8]! & 0xc0) | (low & 0x3f);
        if (low <= 0x3f) break;
        continue;
      }
      if (i === 6) {
        const low = (b[6]! & 0x0f) + 1;
        b[6] = (b[6]! & 0xf0) | (low & 0x0f);
        break;
      }
      b[i] = (b[i]! + 1) & 0xff;
      if (b[i] !== 0) break;
    }
  } else {
    b = randomBytes(16);
    const big = BigInt(ms);
    for (let i = 0; i < 6; i++) b[i] = Number((big >> BigInt(8 * (5 - i))) & 0xffn);
    b[6] = (b[6]! & 0x0f) | 0x70;
    // Leave headroom in the counter so a burst in one ms does not wrap.
    b[8] = (b[8]! & 0x1f) | 0x80;
    lastMs = ms;
  }
  last = b;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
