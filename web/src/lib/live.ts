// The live feed of the Room page: GET /api/events/stream (Server-Sent Events, same-origin, so the
// session cookie goes along). Messages: `hello` on connect, `event` (an access event), `door` (a
// door's full status), `flag` (a camera flag, raised or reviewed: handed to `onFlag` when the
// page gives one) and `ping` (heartbeat).
//
// The browser's EventSource reconnects by itself after a dropped connection, but gives up for good
// on an HTTP error (a 401 after the session ended, a 502 from a proxy during a restart). This
// wrapper then opens a new one with a growing delay, and also replaces a connection that went
// silent (no message, not even a heartbeat, for `silenceMs`).
import { EVENT_STREAM_URL, type AccessEvent, type Door } from './api';
import { asFlag, type Flag } from './flags';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

export interface LiveHandlers {
  /** A (re)connection is up: fetch what may have been missed. Called before any message. */
  onConnect: () => void;
  onEvent: (event: AccessEvent) => void;
  onDoor: (door: Door) => void;
  /** A flag raised by the room's cameras, or one whose review changed (the Flags page). */
  onFlag?: (flag: Flag) => void;
  onState: (state: LiveState) => void;
  /**
   * Before a fresh EventSource replaces one that failed: resolve to go ahead. Reject (for example
   * because the session is gone and the page is on its way to /login) to stop trying.
   */
  beforeReconnect?: () => Promise<void>;
}

export interface LiveOptions {
  url?: string;
  /** First retry delay after an HTTP error; doubles up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Replace a connection with no message for this long (the server pings every 15 s). */
  silenceMs?: number;
}

function parse(data: unknown): unknown {
  if (typeof data !== 'string') return undefined;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asEvent(value: unknown): AccessEvent | undefined {
  if (!isRecord(value) || typeof value['id'] !== 'string' || typeof value['type'] !== 'string') {
    return undefined;
  }
  if (typeof value['at'] !== 'string') return undefined;
  return value as unknown as AccessEvent;
}

function asDoor(value: unknown): Door | undefined {
  if (!isRecord(value) || typeof value['id'] !== 'string') return undefined;
  if (!Array.isArray(value['alarms'])) return undefined;
  return value as unknown as Door;
}

/** Connects and keeps connecting until the returned function is called. */
export function connectLive(handlers: LiveHandlers, options: LiveOptions = {}): () => void {
  const url = options.url ?? EVENT_STREAM_URL;
  const minDelay = options.minDelayMs ?? 1000;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const silenceMs = options.silenceMs ?? 45_000;

  let source: EventSource | undefined;
  let stopped = false;
  let delay = minDelay;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let silenceTimer: ReturnType<typeof setTimeout> | undefined;

  const setState = (state: LiveState) => {
    if (!stopped) handlers.onState(state);
  };

  const watchSilence = () => {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(() => {
      // Half-open connection (a proxy or Wi-Fi dropped it without telling us): start over.
      replace();
    }, silenceMs);
  };

  const close = () => {
    clearTimeout(silenceTimer);
    if (source) {
      source.onopen = null;
      source.onerror = null;
      source.close();
      source = undefined;
    }
  };

  const replace = () => {
    close();
    if (stopped) return;
    setState('reconnecting');
    clearTimeout(retryTimer);
    const wait = delay;
    delay = Math.min(maxDelay, delay * 2);
    retryTimer = setTimeout(() => {
      const ready = handlers.beforeReconnect?.() ?? Promise.resolve();
      ready.then(
        () => open(),
        () => {
          // Not going on (no session); the page is leaving. Try again later if it stays.
          if (!stopped) replace();
        },
      );
    }, wait);
  };

  const open = () => {
    if (stopped) return;
    close();
    const es = new EventSource(url);
    source = es;
    watchSilence();

    es.onopen = () => {
      delay = minDelay;
      watchSilence();
      setState('live');
      handlers.onConnect();
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // An HTTP error or a wrong content type: the browser will not retry this one.
        replace();
      } else {
        // The browser is reconnecting by itself; onopen fires again when it is back.
        setState('reconnecting');
      }
    };
    es.addEventListener('hello', () => watchSilence());
    es.addEventListener('ping', () => watchSilence());
    es.addEventListener('event', (m: MessageEvent) => {
      watchSilence();
      const event = asEvent(parse(m.data));
      if (event) handlers.onEvent(event);
    });
    es.addEventListener('door', (m: MessageEvent) => {
      watchSilence();
      const door = asDoor(parse(m.data));
      if (door) handlers.onDoor(door);
    });
    es.addEventListener('flag', (m: MessageEvent) => {
      watchSilence();
      const flag = asFlag(parse(m.data));
      if (flag) handlers.onFlag?.(flag);
    });
  };

  setState('connecting');
  open();

  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    close();
  };
}
