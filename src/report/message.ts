import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { AUTO_SUBMITTED, AUTO_SUBMITTED_VALUE, RUN_HEADER, type Verdict } from '../contract.ts';
import { isPlainAddress } from '../mail/author.ts';
import type { HeadMail, RenderedReply } from './render.ts';

// The complete reply as RFC 5322 bytes. These bytes are stored in the outbox and are
// exactly what goes to SMTP, so what the database says was sent is what was sent.

/** Machine-readable verdict for list filters and other bots, as osstest does in its headers. */
export const VERDICT_HEADER = 'X-Listci-Verdict';

/**
 * Recorded as mailbox strings (the API shows them), each written by formatMailbox so that
 * addressOf, which policy and outbox use to pick the SMTP recipients, reads back exactly
 * the address it was written from.
 */
export interface Recipients {
  to: string[];
  cc: string[];
}

/** A recipient as nodemailer takes it: the address is never searched for in the name. */
export interface Mailbox {
  name: string;
  address: string;
}

export interface BuiltReply {
  messageId: string; // without angle brackets
  subject: string;
  raw: Buffer;
  recipients: Recipients;
  /** SMTP envelope: MAIL FROM and RCPT TO, bare addresses. */
  envelope: { from: string; to: string[] };
}

export interface MessageInput {
  rendered: RenderedReply;
  head: HeadMail;
  runId: number;
  verdict: Verdict;
  from: string;
  recipients: Recipients;
  date: Date;
  /** Makes the Message-ID unique across databases (run ids restart in a fresh one); random if absent. */
  nonce?: string;
}

/** The first mailbox of an RFC 5322 address string, as nodemailer reads it. */
function mailboxOf(s: string): Mailbox | null {
  const first = addressparser(s, { flatten: true })[0];
  return first && 'address' in first && first.address
    ? { name: first.name ?? '', address: first.address }
    : null;
}

/** The bare, lower-cased address of "Name <addr>" (or of a bare address). */
export function addressOf(mailbox: string): string {
  return (mailboxOf(mailbox)?.address ?? mailbox.trim()).toLowerCase();
}

/**
 * The series' author as the series stage writes it (`${name} <${addr}>`, or the bare
 * address), split back into the stored name and address. The stored address never holds
 * '<', '>' or a blank (parseAddress takes only a plain addr-spec), so it is what the last
 * '<' opens, and the name is only ever a name: "v@x, b@y <eve@z>" is eve@z, never v@x.
 */
export function authorMailbox(author: string): Mailbox {
  const t = author.trim();
  const open = t.lastIndexOf('<');
  if (open < 0 || !t.endsWith('>')) return { name: '', address: t };
  return { name: t.slice(0, open).trim(), address: t.slice(open + 1, -1) };
}

/** Anything longer is not a name a person goes by, and would only swell the To: header. */
const MAX_NAME = 200;

/**
 * The mailbox as recorded, shown and put in the To: header. The name is written bare when it
 * is only words, else as an RFC 5322 quoted string, and dropped when neither reads back as
 * written; null when the address is not one plain addr-spec (nothing to send to safely).
 */
export function formatMailbox(m: Mailbox): string | null {
  const address = m.address.trim();
  if (!isPlainAddress(address)) return null;
  const name = [...m.name.replace(/[\x00-\x1f\x7f\s]+/g, ' ').trim()].slice(0, MAX_NAME).join('').trim();
  const ways = name
    ? [
        ...(/^[\p{L}\p{N} .'-]+$/u.test(name) ? [`${name} <${address}>`] : []),
        `"${name.replace(/[\\"]/g, '\\$&')}" <${address}>`,
      ]
    : [];
  for (const w of ways) {
    const back = mailboxOf(w);
    if (back && back.address === address && back.name === name) return w;
  }
  return mailboxOf(address)?.address === address ? address : null;
}

/**
 * Who a reply goes to: the series' author, the list (when configured), the configured Cc.
 * Nobody else, ever: people the series' mails Cc'd are not copied, whatever the thread says.
 * An author whose address cannot be written down safely gets no mail (policy: no author),
 * nor does one under .invalid (RFC 2606): authorOf's "unknown@invalid" for a mail that
 * names nobody.
 */
export function replyRecipients(opts: {
  author: string | Mailbox;
  listAddress: string | null;
  ccList: boolean;
  cc: string[];
}): Recipients {
  const box = typeof opts.author === 'string' ? authorMailbox(opts.author) : opts.author;
  const author = /[@.]invalid$/i.test(box.address.trim()) ? null : formatMailbox(box);
  const seen = new Set(author ? [addressOf(author)] : []);
  const cc: string[] = [];
  for (const a of [...(opts.ccList && opts.listAddress ? [opts.listAddress] : []), ...opts.cc]) {
    const box = mailboxOf(a);
    const written = box && formatMailbox(box);
    if (!written || seen.has(addressOf(written))) continue;
    seen.add(addressOf(written));
    cc.push(written);
  }
  return { to: author ? [author] : [], cc };
}

/** A recorded recipient back as the mailbox it was written from (formatMailbox round-trips). */
function recorded(s: string): Mailbox {
  const box = mailboxOf(s);
  if (!box) throw new Error(`reply: recipient ${JSON.stringify(s)} holds no address`);
  return box;
}

export function replyMessageId(runId: number, from: string, nonce: string): string {
  const domain = addressOf(from).split('@')[1] || 'localhost';
  return `listci-run-${runId}-${nonce}@${domain}`;
}

const bracket = (id: string): string => `<${id.replace(/^<|>$/g, '')}>`;

export async function buildReplyMessage(input: MessageInput): Promise<BuiltReply> {
  const messageId = replyMessageId(input.runId, input.from, input.nonce ?? randomBytes(6).toString('hex'));
  const { to, cc } = input.recipients;
  const toBoxes = to.map(recorded);
  const ccBoxes = cc.map(recorded);
  // CRLF throughout: MailComposer leaves a text body's own line ends alone. A bare CR (from
  // a subject, say) is a line end too: SMTP would make it one on the wire, and the recorded
  // bytes are to be the sent ones.
  const body = input.rendered.text.replace(/\r\n|\r|\n/g, '\r\n');
  const encoding = unencodedTransfer(body);
  const composer = new MailComposer({
    from: input.from,
    // Objects, not strings: nodemailer quotes the names itself and never re-reads them.
    to: toBoxes,
    cc: ccBoxes,
    subject: input.rendered.subject,
    messageId: bracket(messageId),
    date: input.date,
    inReplyTo: bracket(input.head.messageId),
    references: [...input.head.references, input.head.messageId].map(bracket),
    // A stand-in body when the real one can go unencoded: see below.
    text: encoding ? 'x' : body,
    headers: {
      [AUTO_SUBMITTED]: AUTO_SUBMITTED_VALUE,
      [RUN_HEADER]: String(input.runId),
      [VERDICT_HEADER]: input.verdict,
    },
  });
  const composed = await composer.compile().build();
  const raw = encoding ? withUnencodedBody(composed, body, encoding) : composed;
  return {
    messageId,
    subject: input.rendered.subject,
    raw,
    recipients: { to, cc },
    envelope: {
      from: addressOf(input.from),
      to: [...toBoxes, ...ccBoxes].map((b) => b.address.toLowerCase()),
    },
  };
}

/**
 * Plain 7bit/8bit when every line fits SMTP's limit, so the reply reads as-is in raw form
 * (lore's raw view, mutt's pager, a quoted hunk); quoted-printable only when it must.
 * MailComposer quoted-printables any line over 76 characters, and build tables are wider.
 */
function unencodedTransfer(body: string): '7bit' | '8bit' | null {
  if (body.split('\r\n').some((l) => Buffer.byteLength(l) > 900)) return null;
  return /^[\x00-\x7f]*$/.test(body) ? '7bit' : '8bit';
}

/** MailComposer's headers (encoded words, folding) with our body and its transfer encoding. */
function withUnencodedBody(composed: Buffer, body: string, encoding: '7bit' | '8bit'): Buffer {
  const end = composed.indexOf('\r\n\r\n');
  const head = composed.subarray(0, end).toString('latin1');
  const cte = /^Content-Transfer-Encoding: 7bit$/m;
  if (end < 0 || !cte.test(head)) throw new Error('reply: unexpected MIME layout from MailComposer');
  const fixed = head.replace(cte, `Content-Transfer-Encoding: ${encoding}`);
  return Buffer.concat([Buffer.from(fixed + '\r\n\r\n', 'latin1'), Buffer.from(body, 'utf8')]);
}
