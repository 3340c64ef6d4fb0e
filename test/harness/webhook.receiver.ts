/**
 * Throw-away HTTP endpoint standing in for an SMS gateway or property-management system: records
 * every request (raw body included, for signature checks) and answers 200, unless told to fail
 * the next requests with an error status or to hang without answering, so tests can drive the
 * sender's retry and timeout paths against real sockets.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';

export interface ReceivedRequest {
  method: string;
  /** Path and query, as requested. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received (UTF-8). */
  body: string;
  /** What the receiver did: the status it answered, or 'hung'. */
  outcome: number | 'hung';
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hooks/parcels` */
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** Answer the next `count` requests with `status` (default 500) instead of 200. */
  failNext(count: number, status?: number): void;
  /** Leave the next `count` requests unanswered until the receiver closes. */
  hangNext(count: number): void;
  /** Drop open connections (hung requests included) and stop listening. Idempotent. */
  close(): Promise<void>;
}

type Plan = { kind: 'status'; status: number } | { kind: 'hang' };

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const plans: Plan[] = [];
  const hung = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const plan = plans.shift() ?? { kind: 'status', status: 200 };
      const outcome = plan.kind === 'hang' ? 'hung' : plan.status;
      // Recorded before answering, so a sender seeing the answer can rely on the record.
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        outcome,
      });
      if (plan.kind === 'hang') {
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      }
      const ok = plan.status >= 200 && plan.status < 300;
      res.writeHead(plan.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(ok ? { received: true } : { error: 'receiver told to fail' }));
    });
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('webhook receiver has no TCP address'));
        return;
      }
      resolve(address.port);
    });
  });

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/hooks/parcels`,
    port,
    requests,
    failNext(count, status = 500) {
      for (let i = 0; i < count; i++) plans.push({ kind: 'status', status });
    },
    hangNext(count) {
      for (let i = 0; i < count; i++) plans.push({ kind: 'hang' });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
