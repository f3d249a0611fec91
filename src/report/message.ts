import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Verdict } from '../contract.ts';
import { AUTO_SUBMITTED, AUTO_SUBMITTED_VALUE, RUN_HEADER } from './headers.ts';
import type { HeadMail, RenderedReply } from './render.ts';

// The complete reply as RFC 5322 bytes. These bytes are stored in the outbox and are
// exactly what goes to SMTP, so what the database says was sent is what was sent.

/** Machine-readable verdict for list filters and other bots, as osstest does in its headers. */
export const VERDICT_HEADER = 'X-Listci-Verdict';

export interface Recipients {
  to: string[];
  cc: string[];
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

/** The bare, lower-cased address of "Name <addr>" (or of a bare address). */
export function addressOf(mailbox: string): string {
  const first = addressparser(mailbox, { flatten: true })[0];
  const addr = first && 'address' in first && first.address ? first.address : mailbox.trim();
  return addr.toLowerCase();
}

/**
 * Who a reply goes to: the series' author, the list (when configured), the configured Cc.
 * Nobody else, ever: people the series' mails Cc'd are not copied, whatever the thread says.
 */
export function replyRecipients(opts: {
  author: string;
  listAddress: string | null;
  ccList: boolean;
  cc: string[];
}): Recipients {
  const seen = new Set([addressOf(opts.author)]);
  const cc: string[] = [];
  for (const a of [...(opts.ccList && opts.listAddress ? [opts.listAddress] : []), ...opts.cc]) {
    const key = addressOf(a);
    if (seen.has(key)) continue;
    seen.add(key);
    cc.push(a);
  }
  return { to: [opts.author], cc };
}

export function replyMessageId(runId: number, from: string, nonce: string): string {
  const domain = addressOf(from).split('@')[1] || 'localhost';
  return `listci-run-${runId}-${nonce}@${domain}`;
}

const bracket = (id: string): string => `<${id.replace(/^<|>$/g, '')}>`;

export async function buildReplyMessage(input: MessageInput): Promise<BuiltReply> {
  const messageId = replyMessageId(input.runId, input.from, input.nonce ?? randomBytes(6).toString('hex'));
  const { to, cc } = input.recipients;
  // CRLF throughout: MailComposer leaves a text body's own line ends alone.
  const body = input.rendered.text.replace(/\r?\n/g, '\r\n');
  const encoding = unencodedTransfer(body);
  const composer = new MailComposer({
    from: input.from,
    to,
    cc,
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
    envelope: { from: addressOf(input.from), to: [...to, ...cc].map(addressOf) },
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
