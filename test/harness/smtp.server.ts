/**
 * Throw-away SMTP server for integration tests: smtp-server on 127.0.0.1, accepting every message
 * and keeping it in memory, raw and minimally parsed, so tests can check what a resident would
 * actually receive. Plain SMTP only (STARTTLS disabled): the tests are about content, retries and
 * connection errors, and a self-signed certificate would add a test dependency on openssl.
 * Authentication is optional; any user/password is accepted and the user name is kept.
 */
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** SMTP envelope: MAIL FROM and RCPT TO, as the relay saw them. */
  envelope: { from: string; to: string[] };
  /** User name of the AUTH login, if the client logged in. */
  user: string | undefined;
  /** The whole message as sent, headers and MIME body. */
  raw: string;
  /** Header fields by lower-case name (first occurrence), unfolded, encoded words decoded. */
  headers: Record<string, string>;
  subject: string;
  from: string;
  to: string;
  /** Decoded text/plain and text/html parts ('' when absent). */
  text: string;
  html: string;
}

export interface TestSmtpServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly messages: ReceivedMail[];
  /** Stop accepting and close the listener. Idempotent. */
  close(): Promise<void>;
}

export interface StartSmtpServerOptions {
  /** Fixed port, e.g. to bring a relay up where a client has been failing; default a free one. */
  port?: number;
}

export async function startSmtpServer(opts: StartSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 1_000,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err: Error) => callback(err));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const { mailFrom, rcptTo } = session.envelope;
        // Recorded before the reply, so a client's send() resolving means the message is here.
        messages.push({
          envelope: {
            from: mailFrom ? mailFrom.address : '',
            to: rcptTo.map((r) => r.address),
          },
          user: typeof session.user === 'string' ? session.user : undefined,
          raw,
          ...parseMessage(raw),
        });
        callback(null);
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('SMTP test server has no TCP address'));
        return;
      }
      resolve(address.port);
    });
  });
  // After start-up, connection-level errors (a client resetting) are not the test's business.
  server.on('error', () => {});

  let closing: Promise<void> | undefined;
  return {
    host: '127.0.0.1',
    port,
    messages,
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}

// ---- minimal RFC 5322 / MIME reading: enough for what nodemailer writes --------------------

function splitHeadBody(raw: string): [string, string] {
  const at = raw.search(/\r?\n\r?\n/);
  if (at < 0) return [raw, ''];
  const sep = /\r?\n\r?\n/.exec(raw.slice(at))?.[0].length ?? 2;
  return [raw.slice(0, at), raw.slice(at + sep)];
}

function parseHeaders(head: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] ??= decodeEncodedWords(line.slice(colon + 1).trim());
  }
  return headers;
}

/** RFC 2047 `=?charset?B|Q?text?=`; adjacent encoded words join without the space between. */
function decodeEncodedWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(
      /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g,
      (_m, charset: string, enc: string, text: string) => {
        const bytes =
          enc.toUpperCase() === 'B'
            ? Buffer.from(text, 'base64')
            : qpBytes(text.replace(/_/g, ' '));
        return decodeCharset(bytes, charset);
      },
    );
}

function qpBytes(text: string): Buffer {
  const soft = text.replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const hex = soft.slice(i + 1, i + 3);
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(soft.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(out);
}

function decodeCharset(bytes: Buffer, charset: string): string {
  return /^(us-)?ascii$|^utf-?8$/i.test(charset)
    ? bytes.toString('utf8')
    : bytes.toString('latin1');
}

function param(headerValue: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}="?([^";]+)"?`, 'i').exec(headerValue);
  return m?.[1];
}

interface Parts {
  text: string;
  html: string;
}

function readPart(headers: Record<string, string>, body: string, into: Parts): void {
  const type = headers['content-type'] ?? 'text/plain';
  const boundary = param(type, 'boundary');
  if (/^multipart\//i.test(type) && boundary) {
    const sections = body.split(`--${boundary}`).slice(1);
    for (const section of sections) {
      if (section.startsWith('--')) break;
      const [head, partBody] = splitHeadBody(section.replace(/^\r?\n/, ''));
      readPart(parseHeaders(head), partBody, into);
    }
    return;
  }
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const bytes =
    cte === 'base64'
      ? Buffer.from(body.replace(/\s+/g, ''), 'base64')
      : cte === 'quoted-printable'
        ? qpBytes(body)
        : Buffer.from(body, 'utf8');
  const text = decodeCharset(bytes, param(type, 'charset') ?? 'utf-8').replace(/\r\n/g, '\n');
  if (/^text\/html/i.test(type) && !into.html) into.html = text;
  else if (/^text\/plain/i.test(type) && !into.text) into.text = text;
}

function parseMessage(raw: string): Omit<ReceivedMail, 'envelope' | 'user' | 'raw'> {
  const [head, body] = splitHeadBody(raw);
  const headers = parseHeaders(head);
  const parts: Parts = { text: '', html: '' };
  readPart(headers, body, parts);
  return {
    headers,
    subject: headers.subject ?? '',
    from: headers.from ?? '',
    to: headers.to ?? '',
    ...parts,
  };
}
