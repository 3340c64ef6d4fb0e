/**
 * The small amount of XML, SOAP 1.2, WS-Security and HTTP digest the ONVIF simulator and the
 * ONVIF client share. Written by hand on purpose: a camera answers a handful of known messages,
 * and a strict little parser that refuses DOCTYPEs, undeclared prefixes and mismatched tags is
 * easier to trust with junk from the network than a general one.
 *
 * Nothing here does I/O.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  wsa: 'http://www.w3.org/2005/08/addressing',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  tt: 'http://www.onvif.org/ver10/schema',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
  wsrfr: 'http://docs.oasis-open.org/wsrf/r-2',
  ter: 'http://www.onvif.org/ver10/error',
  tns1: 'http://www.onvif.org/ver10/topics',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const;

export const PASSWORD_DIGEST_TYPE =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';

// ---------------------------------------------------------------------------------------------
// XML

export interface XmlAttribute {
  /** As written, e.g. `s:mustUnderstand`. */
  name: string;
  local: string;
  /** Namespace URI; '' for an unprefixed attribute. */
  ns: string;
  value: string;
}

export interface XmlElement {
  /** As written, e.g. `tds:GetProfiles`. */
  name: string;
  local: string;
  /** Namespace URI; '' when the element is in no namespace. */
  ns: string;
  attributes: XmlAttribute[];
  children: XmlElement[];
  /** The element's own character data (text and CDATA), entities decoded, untrimmed. */
  text: string;
}

/** The document is not well-formed XML (or uses something we refuse, like a DOCTYPE). */
export class XmlError extends Error {
  override name = 'XmlError';
}

export interface XmlParseOptions {
  maxDepth?: number;
  maxElements?: number;
  /**
   * Read an undeclared prefix as no namespace instead of refusing the document. For XML the
   * `onvif` package hands back: it strips every xmlns declaration before it passes the text on.
   */
  lenientPrefixes?: boolean;
}
const NAME_RE = /[A-Za-z_\u00C0-\uFFFF][\w.\-:\u00B7\u00C0-\uFFFF]*/y;
const WS_RE = /[ \t\r\n]*/y;

/**
 * Parse one XML document into an element tree with namespaces resolved.
 * Throws XmlError, never anything else, for input that is not a well-formed document.
 */
export function parseXml(source: string, options: XmlParseOptions = {}): XmlElement {
  const maxDepth = options.maxDepth ?? 64;
  const maxElements = options.maxElements ?? 20_000;
  let i = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = source.length;
  let elements = 0;

  const fail = (what: string): never => {
    throw new XmlError(`${what} at offset ${i}`);
  };
  const skipWs = () => {
    WS_RE.lastIndex = i;
    WS_RE.exec(source);
    i = WS_RE.lastIndex;
  };
  const readName = (): string => {
    NAME_RE.lastIndex = i;
    const m = NAME_RE.exec(source);
    if (!m) return fail('expected a name');
    i = NAME_RE.lastIndex;
    return m[0];
  };
  const skipUntil = (end: string, what: string) => {
    const at = source.indexOf(end, i);
    if (at < 0) fail(`unterminated ${what}`);
    i = at + end.length;
  };
  /** Comments, processing instructions and whitespace between elements. */
  const skipMisc = () => {
    for (;;) {
      skipWs();
      if (source.startsWith('<!--', i)) skipUntil('-->', 'comment');
      else if (source.startsWith('<?', i)) skipUntil('?>', 'processing instruction');
      else return;
    }
  };

  interface Frame {
    el: XmlElement;
    scope: Map<string, string>;
  }
  const rootScope = new Map<string, string>([
    ['xml', NS.xml],
    ['', ''],
  ]);

  const resolve = (qname: string, scope: Map<string, string>, isAttribute: boolean) => {
    const colon = qname.indexOf(':');
    if (colon < 0) return { local: qname, ns: isAttribute ? '' : (scope.get('') ?? '') };
    const prefix = qname.slice(0, colon);
    const local = qname.slice(colon + 1);
    if (!local || local.includes(':')) return fail(`bad qualified name '${qname}'`);
    const ns = scope.get(prefix);
    if (ns === undefined) {
      return options.lenientPrefixes
        ? { local, ns: '' }
        : fail(`undeclared namespace prefix '${prefix}'`);
    }
    return { local, ns };
  };

  /** Parse a start tag at `<`; returns the element and whether it closed itself. */
  const readStartTag = (parentScope: Map<string, string>) => {
    i++; // '<'
    const name = readName();
    const raw: { name: string; value: string }[] = [];
    for (;;) {
      const before = i;
      skipWs();
      if (source.startsWith('/>', i) || source[i] === '>') break;
      if (i === before) fail('expected whitespace before an attribute');
      const attrName = readName();
      skipWs();
      if (source[i] !== '=') fail(`expected '=' after attribute '${attrName}'`);
      i++;
      skipWs();
      const quote = source[i];
      if (quote !== '"' && quote !== "'") return fail('expected a quoted attribute value');
      const end = source.indexOf(quote, i + 1);
      if (end < 0) fail('unterminated attribute value');
      const value = source.slice(i + 1, end);
      if (value.includes('<')) fail("'<' in an attribute value");
      if (raw.some((a) => a.name === attrName)) fail(`duplicate attribute '${attrName}'`);
      raw.push({ name: attrName, value: decodeEntities(value, fail) });
      i = end + 1;
    }
    const selfClosing = source.startsWith('/>', i);
    i += selfClosing ? 2 : 1;

    let scope = parentScope;
    for (const a of raw) {
      if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) {
        if (scope === parentScope) scope = new Map(parentScope);
        scope.set(a.name === 'xmlns' ? '' : a.name.slice(6), a.value);
      }
    }
    const attributes: XmlAttribute[] = [];
    for (const a of raw) {
      if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) continue;
      const r = resolve(a.name, scope, true);
      attributes.push({ name: a.name, local: r.local, ns: r.ns, value: a.value });
    }
    const r = resolve(name, scope, false);
    if (++elements > maxElements) fail('too many elements');
    const el: XmlElement = { name, local: r.local, ns: r.ns, attributes, children: [], text: '' };
    return { el, scope, selfClosing };
  };

  skipMisc();
  if (source.startsWith('<!DOCTYPE', i) || source.startsWith('<!doctype', i)) {
    fail('DOCTYPE is not accepted');
  }
  if (source[i] !== '<') fail('expected the root element');
  const first = readStartTag(rootScope);
  const root = first.el;
  const stack: Frame[] = first.selfClosing ? [] : [{ el: root, scope: first.scope }];

  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Frame;
    if (i >= n) fail(`unclosed element '${top.el.name}'`);
    const lt = source.indexOf('<', i);
    if (lt < 0) fail(`unclosed element '${top.el.name}'`);
    if (lt > i) {
      const chunk = source.slice(i, lt);
      if (chunk.includes(']]>')) fail("']]>' in character data");
      top.el.text += decodeEntities(chunk, fail);
      i = lt;
    }
    if (source.startsWith('<!--', i)) {
      skipUntil('-->', 'comment');
    } else if (source.startsWith('<![CDATA[', i)) {
      const start = i + 9;
      skipUntil(']]>', 'CDATA section');
      top.el.text += source.slice(start, i - 3);
    } else if (source.startsWith('<?', i)) {
      skipUntil('?>', 'processing instruction');
    } else if (source.startsWith('</', i)) {
      i += 2;
      const name = readName();
      skipWs();
      if (source[i] !== '>') fail(`expected '>' to close '${name}'`);
      i++;
      if (name !== top.el.name) fail(`'</${name}>' does not close '<${top.el.name}>'`);
      stack.pop();
    } else if (source[i + 1] === '!') {
      fail('markup declarations are not accepted');
    } else {
      const child = readStartTag(top.scope);
      top.el.children.push(child.el);
      if (!child.selfClosing) {
        if (stack.length >= maxDepth) fail('elements nested too deeply');
        stack.push({ el: child.el, scope: child.scope });
      }
    }
  }
  skipMisc();
  if (i < n) fail('content after the root element');
  return root;
}

function decodeEntities(text: string, fail: (what: string) => never): string {
  if (!text.includes('&')) return text;
  return text.replace(/&([^;&\s]{0,10});?/g, (whole, body: string) => {
    if (!whole.endsWith(';')) fail("'&' that starts no entity");
    switch (body) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(body);
    const code = m ? (m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2])) : NaN;
    if (!Number.isInteger(code) || code > 0x10ffff || code === 0) fail(`unknown entity '${whole}'`);
    return String.fromCodePoint(code);
  });
}

/** First child element with this local name (and namespace, when given). */
export function child(
  el: XmlElement | undefined,
  local: string,
  ns?: string,
): XmlElement | undefined {
  return el?.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

export function children(el: XmlElement | undefined, local: string, ns?: string): XmlElement[] {
  return el
    ? el.children.filter((c) => c.local === local && (ns === undefined || c.ns === ns))
    : [];
}

/** Follow child elements by local name: `descend(envelope, 'Body', 'GetProfilesResponse')`. */
export function descend(el: XmlElement | undefined, ...locals: string[]): XmlElement | undefined {
  let at = el;
  for (const local of locals) at = child(at, local);
  return at;
}

/** Trimmed text of an element, or undefined when the element is missing. */
export function textOf(el: XmlElement | undefined): string | undefined {
  return el ? el.text.trim() : undefined;
}

export function attribute(el: XmlElement | undefined, local: string): string | undefined {
  return el?.attributes.find((a) => a.local === local)?.value;
}

/** Escape for both element text and (double-quoted) attribute values. */
export function xmlEscape(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

// ---------------------------------------------------------------------------------------------
// SOAP 1.2

const ENVELOPE_NAMESPACES =
  `xmlns:env="${NS.soap}" xmlns:wsa="${NS.wsa}" xmlns:tt="${NS.tt}" xmlns:tds="${NS.tds}" ` +
  `xmlns:trt="${NS.trt}" xmlns:tev="${NS.tev}" xmlns:wsnt="${NS.wsnt}" xmlns:wsrf-r="${NS.wsrfr}" ` +
  `xmlns:ter="${NS.ter}" xmlns:tns1="${NS.tns1}"`;

export function soapEnvelope(body: string, header = ''): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope ${ENVELOPE_NAMESPACES}>` +
    (header ? `<env:Header>${header}</env:Header>` : '') +
    `<env:Body>${body}</env:Body></env:Envelope>`
  );
}

export type SoapFaultCode = 'Sender' | 'Receiver' | 'MustUnderstand' | 'VersionMismatch';

/** A SOAP fault as ONVIF defines them: a code, `ter:` subcodes from general to specific, a reason. */
export interface SoapFault {
  code: SoapFaultCode;
  /** Qualified names, e.g. ['ter:InvalidArgVal', 'ter:NoProfile']. */
  subcodes: string[];
  reason: string;
  /** Extra words for whoever reads the logs. */
  detail?: string;
}

export function soapFaultBody(fault: SoapFault): string {
  let sub = '';
  for (const code of [...fault.subcodes].reverse()) {
    sub = `<env:Subcode><env:Value>${xmlEscape(code)}</env:Value>${sub}</env:Subcode>`;
  }
  // The reason text carries xml:lang, which the SOAP 1.2 schema requires (and which the `onvif`
  // client needs to find the text at all).
  return (
    `<env:Fault><env:Code><env:Value>env:${fault.code}</env:Value>${sub}</env:Code>` +
    `<env:Reason><env:Text xml:lang="en">${xmlEscape(fault.reason)}</env:Text></env:Reason>` +
    (fault.detail
      ? `<env:Detail><env:Text>${xmlEscape(fault.detail)}</env:Text></env:Detail>`
      : '') +
    `</env:Fault>`
  );
}

/** The fault in a SOAP response, if it is one: its code and subcode values (as written). */
export function readSoapFault(
  envelope: XmlElement,
): { codes: string[]; reason: string; detail: string } | undefined {
  const fault = descend(envelope, 'Body', 'Fault');
  if (!fault) return undefined;
  const codes: string[] = [];
  let at = child(fault, 'Code');
  while (at) {
    const value = textOf(child(at, 'Value'));
    if (value) codes.push(value);
    at = child(at, 'Subcode');
  }
  // SOAP 1.1 faults (some cameras) put a faultcode/faultstring in place of Code/Reason.
  const faultcode = textOf(child(fault, 'faultcode'));
  if (faultcode) codes.push(faultcode);
  const reason =
    textOf(descend(fault, 'Reason', 'Text')) ?? textOf(child(fault, 'faultstring')) ?? '';
  const detailEl = child(fault, 'Detail') ?? child(fault, 'detail');
  const detail = detailEl ? flattenText(detailEl).trim() : '';
  return { codes, reason, detail };
}

function flattenText(el: XmlElement): string {
  return el.text + el.children.map(flattenText).join(' ');
}

// ---------------------------------------------------------------------------------------------
// Time: xs:duration and xs:dateTime as ONVIF uses them (PT1M, PT0.5S, 2026-01-01T12:00:00Z).

const DURATION_RE =
  /^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** An xs:duration in ms, or undefined when it is not one. Months count 30 days, years 365. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m || /[PT]$/.test(text.trim())) return undefined;
  const num = (s: string | undefined) => (s === undefined ? 0 : Number(s));
  const days = num(m[2]) * 365 + num(m[3]) * 30 + num(m[4]) * 7 + num(m[5]);
  const ms = ((days * 24 + num(m[6])) * 60 + num(m[7])) * 60_000 + Math.round(num(m[8]) * 1000);
  return m[1] ? -ms : ms;
}

/** ms as an xs:duration in seconds, e.g. 1500 → 'PT1.5S'. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms)) / 1000;
  return `PT${seconds}S`;
}

/** An xs:dateTime in ms since the epoch; one without a zone is read as UTC. */
export function parseDateTime(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.test(t))
    return undefined;
  const ms = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(t) ? t : `${t}Z`);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * A WS-BaseNotification termination time: either a duration from `nowMs` or an absolute time
 * (both forms are allowed for InitialTerminationTime and Renew).
 */
export function parseTerminationTime(text: string, nowMs: number): number | undefined {
  const t = text.trim();
  if (t.startsWith('P') || t.startsWith('-P')) {
    const d = parseDuration(t);
    return d === undefined ? undefined : nowMs + d;
  }
  return parseDateTime(t);
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

// ---------------------------------------------------------------------------------------------
// WS-Security UsernameToken and HTTP digest

/** Base64(SHA1(nonce + created + password)), the UsernameToken PasswordDigest. */
export function wsPasswordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
    .digest('base64');
}

export function md5Hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** Compare secrets without leaking where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The parameters of a `Digest ...` challenge or authorization header, keys lower-cased, quotes
 * removed. Undefined when the header is not a digest one or cannot be read.
 */
export function parseDigestHeader(header: string): Map<string, string> | undefined {
  const m = /^\s*Digest\s+/i.exec(header);
  if (!m) return undefined;
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  re.lastIndex = m[0].length;
  while (re.lastIndex < header.length) {
    const start = re.lastIndex;
    const p = re.exec(header);
    if (!p || re.lastIndex === start) return undefined;
    const key = (p[1] as string).toLowerCase();
    if (params.has(key)) return undefined;
    params.set(key, p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? ''));
  }
  return params;
}

export interface DigestInput {
  username: string;
  password: string;
  realm: string;
  method: string;
  uri: string;
  nonce: string;
  nc: string;
  cnonce: string;
  qop: 'auth';
}

/** RFC 7616 response with qop=auth and MD5: MD5(HA1:nonce:nc:cnonce:qop:HA2). */
export function digestResponse(d: DigestInput): string {
  const ha1 = md5Hex(`${d.username}:${d.realm}:${d.password}`);
  const ha2 = md5Hex(`${d.method}:${d.uri}`);
  return md5Hex(`${ha1}:${d.nonce}:${d.nc}:${d.cnonce}:${d.qop}:${ha2}`);
}
