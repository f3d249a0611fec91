// Raw bytes → parsed message, by hand rather than with mailparser's simpleParser:
// a patch mail needs only its headers, its text part and its patch attachments, and
// the hand parser is about 20x faster on list traffic (see bench/ingest.ts). It never
// throws: whatever it could not read is named in `error`, and the headers it did read
// are kept so the mail still shows up under its subject and author. It is listci's one
// mail decoder: ingest, the trailer and range readers in git/, and `query show` (the
// stored reply) all read mail through it.
import { parseAddress } from './author.ts';

export interface MimePart {
  contentType: string; // lower-case "text/x-patch"
  filename: string | null;
  text: string;
  flowed: boolean; // Content-Type format=flowed
}

export interface ParsedMessage {
  /** Lower-case name and decoded value, in the order they appear. */
  headers: [string, string][];
  subject: string;
  fromName: string | null;
  fromAddr: string | null;
  /** ISO-8601 UTC, null when absent or unreadable. */
  date: string | null;
  messageId: string | null;
  inReplyTo: string | null;
  /** Oldest first, as in the header. */
  references: string[];
  contentType: string; // of the whole mail, lower-case
  /** The first inline text/plain part, decoded. */
  body: string;
  bodyFlowed: boolean;
  /** Parts that carry a patch as an attachment (text/x-patch, *.patch, *.diff). */
  patchParts: MimePart[];
  /** Why the mail cannot be trusted as a whole; null when it parsed cleanly. */
  error: string | null;
}

export interface ParseOptions {
  /** Mails larger than this keep their headers but the body is not parsed. */
  maxBytes?: number;
}

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
/**
 * A header line (after unfolding) longer than this is cut here, before any pattern reads
 * it, and the mail is marked. Real headers stay far below it, the References of a long
 * thread included (a thousand Message-IDs); Postfix's own header_size_limit is 100 KB.
 */
export const MAX_HEADER_CHARS = 64 * 1024;
/**
 * Headers that hold one short structured value are cut at RFC 5322's line length instead,
 * as store.ts already does for Message-IDs: nothing legitimate makes them longer, and the
 * code that reads them (parseDate, firstId, parseParams) was written for short values.
 */
export const MAX_SHORT_HEADER_CHARS = 998;
const SHORT_HEADERS = new Set([
  'date',
  'message-id',
  'in-reply-to',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
]);
const MAX_DEPTH = 8;

export function parseMessage(raw: Buffer, opts: ParseOptions = {}): ParsedMessage {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const problems: string[] = [];
  // latin1 maps each byte to one code unit: offsets stay byte offsets and nothing is lost.
  const huge = raw.length > maxBytes;
  const text = (huge ? raw.subarray(0, 256 * 1024) : raw).toString('latin1');
  const split = splitHead(text);
  const garbage = looksBinary(split.head);
  if (garbage) problems.push(garbage);
  else if (split.bodyStart < 0 && !huge)
    problems.push('truncated: the header block never ends (no empty line)');
  const headers = garbage ? [] : readHeaders(split.head, problems);
  const get = (name: string) => headers.find((h) => h[0] === name)?.[1] ?? null;

  const from = parseAddress(get('from') ?? '');
  const msg: ParsedMessage = {
    headers,
    subject: get('subject') ?? '',
    fromName: from.name,
    fromAddr: from.addr,
    date: parseDate(get('date')),
    messageId: firstId(get('message-id')),
    inReplyTo: firstId(get('in-reply-to')),
    references: allIds(get('references')),
    contentType: 'text/plain',
    body: '',
    bodyFlowed: false,
    patchParts: [],
    error: null,
  };
  if (!garbage && headers.length > 0 && !msg.messageId) problems.push('no Message-ID header');
  if (!garbage && headers.length > 0 && !get('from') && !get('subject') && !get('date'))
    problems.push('not a mail: no From, Subject or Date header');

  if (huge) {
    problems.push(
      `mail is ${(raw.length / 1048576).toFixed(1)} MB, over the ${(maxBytes / 1048576).toFixed(0)} MB limit: body not parsed`,
    );
  } else if (!garbage && split.bodyStart >= 0) {
    const ct = parseParams(get('content-type') ?? 'text/plain');
    msg.contentType = ct.value;
    const leaves: MimePart[] = [];
    walkPart(headers, text.slice(split.bodyStart), leaves, problems, 0);
    const main = leaves.find((p) => p.contentType === 'text/plain' && !isPatchPart(p));
    msg.body = main?.text ?? '';
    msg.bodyFlowed = main?.flowed ?? false;
    msg.patchParts = leaves.filter(isPatchPart);
    if (/\u0000/.test(msg.body)) problems.push('binary data (NUL bytes) in the text body');
  }
  msg.error = problems.length ? problems.join('; ') : null;
  return msg;
}

/**
 * The readable text of a mail: its text body, transfer encoding and charset decoded,
 * with LF line ends. A mail with no text body at all reads as its raw bytes (UTF-8).
 */
export function mailText(raw: Buffer, opts: ParseOptions = {}): string {
  const body = parseMessage(raw, opts).body;
  return (body === '' ? raw.toString('utf8') : body).replace(/\r\n/g, '\n');
}

/** The first value of a header, decoded; names are case-insensitive. */
export function headerValue(msg: ParsedMessage, name: string): string | null {
  const n = name.toLowerCase();
  return msg.headers.find((h) => h[0] === n)?.[1] ?? null;
}

function splitHead(text: string): { head: string; bodyStart: number } {
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return { head: text, bodyStart: -1 };
  return { head: text.slice(0, m.index), bodyStart: m.index + m[0].length };
}

// A header block starts with "Name:" (or an mbox "From " line someone left in).
function looksBinary(head: string): string | null {
  if (head.includes('\u0000')) return 'binary data (NUL bytes) in the header block';
  const first = head.split(/\r?\n/, 1)[0] ?? '';
  if (!/^[\x21-\x39\x3b-\x7e]+:/.test(first) && !first.startsWith('From '))
    return 'not a mail: the first line is not a header';
  return null;
}

function readHeaders(head: string, problems: string[]): [string, string][] {
  const out: [string, string][] = [];
  const unfolded = head.replace(/\r?\n(?=[ \t])/g, '');
  for (const full of unfolded.split(/\r?\n/)) {
    const line = full.slice(0, MAX_HEADER_CHARS);
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    let value = line.slice(colon + 1).trimStart();
    if (SHORT_HEADERS.has(name) && value.length > MAX_SHORT_HEADER_CHARS) {
      problems.push(
        `the ${name} header is ${full.length - (line.length - value.length)} characters, cut at ${MAX_SHORT_HEADER_CHARS}`,
      );
      value = value.slice(0, MAX_SHORT_HEADER_CHARS);
    } else if (line.length < full.length)
      problems.push(
        `the ${name} header is ${Math.ceil(full.length / 1024)} KB, cut at ${MAX_HEADER_CHARS / 1024} KB`,
      );
    out.push([name, decodeHeaderValue(name, value.trim(), problems)]);
  }
  return out;
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeHeaderValue(name: string, latin1: string, problems: string[]): string {
  let v = latin1;
  if (/[\x80-\xff]/.test(v)) {
    const bytes = Buffer.from(v, 'latin1');
    try {
      v = fatalUtf8.decode(bytes);
    } catch {
      problems.push(`invalid UTF-8 in the ${name} header`);
      v = bytes.toString('utf8');
    }
  }
  return v.includes('=?') ? decodeEncodedWords(v) : v;
}

/** RFC 2047 "=?charset?Q|B?text?=", adjacent words joined without the space between them. */
export function decodeEncodedWords(v: string): string {
  return v
    .replace(/(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (_all, charset: string, enc: string, data: string) => {
      const bytes =
        enc.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64')
          : Buffer.from(
              data
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            );
      return decodeCharset(bytes, charset.split('*')[0]!);
    });
}

const decoders = new Map<string, TextDecoder | null>();

function decodeCharset(bytes: Buffer, charset: string): string {
  const cs = charset.toLowerCase().trim() || 'utf-8';
  if (cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii') return bytes.toString('utf8');
  let dec = decoders.get(cs);
  if (dec === undefined) {
    try {
      dec = new TextDecoder(cs);
    } catch {
      dec = null; // unknown charset: latin1 keeps every byte visible
    }
    decoders.set(cs, dec);
  }
  return dec ? dec.decode(bytes) : bytes.toString('latin1');
}

interface Params {
  value: string;
  params: Record<string, string>;
}

function parseParams(header: string): Params {
  const [value = '', ...rest] = header.split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const k = p.slice(0, eq).trim().toLowerCase();
    params[k] = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return { value: value.trim().toLowerCase(), params };
}

function walkPart(
  headers: [string, string][],
  body: string,
  leaves: MimePart[],
  problems: string[],
  depth: number,
): void {
  const get = (n: string) => headers.find((h) => h[0] === n)?.[1] ?? null;
  const ct = parseParams(get('content-type') ?? 'text/plain');
  if (ct.value.startsWith('multipart/')) {
    const boundary = ct.params.boundary;
    if (!boundary) {
      problems.push(`${ct.value} without a boundary parameter`);
      return;
    }
    if (depth >= MAX_DEPTH) {
      problems.push(`MIME nested deeper than ${MAX_DEPTH} levels`);
      return;
    }
    const { parts, closed } = splitMultipart(body, boundary);
    if (!closed) problems.push(`truncated MIME: ${ct.value} boundary "${boundary}" is never closed`);
    for (const part of parts) {
      const s = splitHead(part);
      const partHeaders = s.bodyStart < 0 && /^\r?\n/.test(part) ? [] : readHeaders(s.head, problems);
      walkPart(partHeaders, s.bodyStart < 0 ? '' : part.slice(s.bodyStart), leaves, problems, depth + 1);
    }
    return;
  }
  if (!ct.value.startsWith('text/') && !ct.value.includes('patch') && !ct.value.includes('diff')) return;
  const disp = parseParams(get('content-disposition') ?? '');
  // An attached text/plain is not the message body, but it may be the patch.
  if (disp.value === 'attachment' && ct.value === 'text/plain' && !disp.params.filename) return;
  const filename = disp.params.filename ?? ct.params.name ?? null;
  const bytes = decodeTransfer(body, (get('content-transfer-encoding') ?? '7bit').toLowerCase().trim());
  leaves.push({
    contentType: ct.value,
    filename,
    text: decodeCharset(bytes, ct.params.charset ?? 'utf-8'),
    flowed: (ct.params.format ?? '').toLowerCase() === 'flowed',
  });
}

function splitMultipart(body: string, boundary: string): { parts: string[]; closed: boolean } {
  const delim = '--' + boundary;
  const parts: string[] = [];
  let at = body.startsWith(delim) ? 0 : body.indexOf('\n' + delim);
  if (at < 0) return { parts, closed: false };
  if (at > 0) at += 1;
  for (;;) {
    const after = at + delim.length;
    if (body.startsWith('--', after)) return { parts, closed: true };
    const lineEnd = body.indexOf('\n', after);
    if (lineEnd < 0) return { parts, closed: false };
    const next = body.indexOf('\n' + delim, lineEnd);
    if (next < 0) {
      parts.push(body.slice(lineEnd + 1));
      return { parts, closed: false };
    }
    parts.push(body.slice(lineEnd + 1, body[next - 1] === '\r' ? next - 1 : next));
    at = next + 1;
  }
}

function decodeTransfer(body: string, cte: string): Buffer {
  if (cte === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (cte === 'quoted-printable') {
    return Buffer.from(
      body
        .replace(/[ \t]+(?=\r?\n)/g, '')
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    );
  }
  return Buffer.from(body, 'latin1');
}

function isPatchPart(p: MimePart): boolean {
  if (/(x-patch|x-diff|\/diff|\/patch)/.test(p.contentType)) return true;
  return p.filename !== null && /\.(patch|diff)$/i.test(p.filename);
}

function parseDate(v: string | null): string | null {
  if (!v) return null;
  const d = new Date(v.replace(/\([^()]*\)/g, '').trim());
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function firstId(v: string | null): string | null {
  if (!v) return null;
  const m = /<([^<>\s]+)>/.exec(v);
  if (m) return m[1]!;
  const bare = v.trim().split(/\s+/)[0];
  return bare && bare.includes('@') ? bare : null;
}

function allIds(v: string | null): string[] {
  if (!v) return [];
  return [...v.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!);
}
