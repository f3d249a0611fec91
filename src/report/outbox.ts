import type { Database } from 'better-sqlite3';
import { backoffDelay, type Backoff } from '../backoff.ts';
import { silentLogger, type Logger } from '../log.ts';
import { addressOf, type BuiltReply, type Recipients } from './message.ts';
import {
  dueReplies,
  inFlightReplies,
  insertReply,
  markReplyFailed,
  markReplySent,
  noteInFlightError,
  retryReplyAt,
  startSending,
  type ReplyRow,
} from '../db/replies.ts';
import type { ReplyState } from './policy.ts';
import {
  fromHeaderAddress,
  sendOverSmtp,
  type SendError,
  type SmtpConfig,
  type SmtpSession,
} from './smtp.ts';

// The durable outbox. A reply is recorded (bytes, Message-ID, recipients) before anything
// is sent, and an attempt is committed as in flight ('sending') before the bytes go to
// SMTP. So after a crash the database knows which replies may already be out: those are
// first looked for in the list's mailbox by Message-ID, and only sent when not found.
// An attempt that fails once the server had the message (no answer to the end of DATA, a
// dropped connection, a 421 there) may have been delivered all the same: it stays in
// flight and takes the same road as one interrupted by a crash. A 4xx other than 421 to
// the end of DATA is the server saying it did not take it: retried like any refusal.
//
//   pending ──claim──> sending ──250 / found in the list mailbox──> sent
//      ^                 │  ^  │
//      │                 │  └──┘ failed after DATA: stays in flight, looked for on the list,
//      │                 │       sent again only after the grace period (no mailbox: 'failed')
//      └─────────────────┘ failed before DATA (backoff; 'failed' after maxAttempts or on a 5xx)
//
// While a reply is 'sending', next_attempt_at holds when that attempt started.

/**
 * Is a mail with this Message-ID in the list's mailbox? The daemon hands the outbox one
 * (an IMAP header search); it throws when it cannot tell, which never reads as "absent".
 */
export type MailboxLookup = (messageId: string) => Promise<boolean>;

export interface EnqueuedReply {
  id: number;
  state: string;
  /** false when this run already had a reply: the first one stands. */
  inserted: boolean;
  messageId: string;
}

/** Records the reply for a run; idempotent: a second call for the same run changes nothing. */
export function enqueueReply(
  db: Database,
  runId: number,
  message: BuiltReply,
  opts: { state?: ReplyState; reason?: string | null; now?: Date } = {},
): EnqueuedReply {
  return insertReply(db, {
    runId,
    messageId: message.messageId,
    recipients: message.recipients,
    subject: message.subject,
    raw: message.raw,
    state: opts.state ?? 'pending',
    reason: opts.reason ?? null,
    createdAt: (opts.now ?? new Date()).toISOString(),
  });
}

/** How a refused reply is retried: the shared backoff, and how many tries in all. */
export interface ReplyRetry extends Backoff {
  /** After this many failed attempts the reply is marked 'failed'. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: ReplyRetry = { baseMs: 60_000, maxMs: 3600_000, maxAttempts: 10 };

export interface DeliverOptions {
  smtp?: SmtpConfig | null;
  password?: string | null;
  /**
   * The list's mailbox, to look for a reply that may have gone out. Without it, a reply
   * whose SMTP session failed after DATA is marked failed rather than risk a second copy
   * on the list; one interrupted by a crash is sent again.
   */
  imapCheck?: MailboxLookup | null;
  now?: Date;
  backoff?: ReplyRetry;
  /**
   * An in-flight reply not (yet) in the mailbox is left alone this long after its attempt
   * started: a list can take minutes to deliver, and a re-send then would be a duplicate.
   */
  inFlightGraceMs?: number;
  /** How long a silent SMTP server is waited for, at any step; default 120 s. */
  socketTimeoutMs?: number;
  log?: Logger;
}

export interface DeliveryReport {
  sent: number[];
  /** In flight before a restart and found in the list's mailbox: marked sent, not re-sent. */
  foundInMailbox: number[];
  /** Still in flight and within the grace period: checked again on a later pass. */
  waiting: number[];
  retrying: number[];
  failed: number[];
}

/** Sends every due reply once; returns what happened to each. Call it again on a timer. */
export async function deliverPending(db: Database, opts: DeliverOptions = {}): Promise<DeliveryReport> {
  const now = opts.now ?? new Date();
  const log = opts.log ?? silentLogger;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const grace = opts.inFlightGraceMs ?? 15 * 60_000;
  const report: DeliveryReport = { sent: [], foundInMailbox: [], waiting: [], retrying: [], failed: [] };

  const due: ReplyRow[] = [];
  for (const row of inFlightReplies(db)) {
    const verdict = await recoverInFlight(db, row, { imapCheck: opts.imapCheck ?? null, now, grace, log });
    if (verdict === 'found') report.foundInMailbox.push(row.id);
    else if (verdict === 'wait') report.waiting.push(row.id);
    else due.push(row);
  }
  due.push(...dueReplies(db, now.toISOString()));
  if (!due.length) return report;

  if (!opts.smtp)
    throw new Error('reply.smtp: not configured, but a reply is pending (set reply.smtp or reply.dryRun)');
  const session: SmtpSession = {
    smtp: opts.smtp,
    password: opts.password ?? null,
    socketTimeoutMs: opts.socketTimeoutMs ?? 120_000,
  };
  for (const row of due) {
    const outcome = await attempt(db, session, row, { now, backoff, log, canLookUp: !!opts.imapCheck });
    report[outcome].push(row.id);
  }
  return report;
}

async function recoverInFlight(
  db: Database,
  row: ReplyRow,
  ctx: {
    imapCheck: MailboxLookup | null;
    now: Date;
    grace: number;
    log: Logger;
  },
): Promise<'found' | 'wait' | 'send'> {
  const what = { reply: row.id, run: row.run_id, messageId: row.message_id };
  if (!ctx.imapCheck) {
    ctx.log.warn(
      what,
      'reply was in flight when listci stopped and no IMAP mailbox is configured to look for it: sending again, a duplicate is possible',
    );
    return 'send';
  }
  let found: boolean;
  try {
    found = await ctx.imapCheck(row.message_id);
  } catch (e) {
    // Cannot tell whether it went out: wait rather than risk a duplicate on the list.
    ctx.log.warn({ ...what, err: String(e) }, 'reply was in flight; the list mailbox cannot be searched now');
    return 'wait';
  }
  if (found) {
    markSent(db, row, ctx.now, 'sending');
    ctx.log.info(what, 'reply was in flight when listci stopped and is in the list mailbox: marked sent');
    return 'found';
  }
  const started = row.next_attempt_at ? Date.parse(row.next_attempt_at) : 0;
  if (ctx.now.getTime() - started < ctx.grace) {
    ctx.log.info(
      what,
      'reply was in flight and is not in the list mailbox yet: waiting before sending again',
    );
    return 'wait';
  }
  ctx.log.info(what, 'reply was in flight and never reached the list mailbox: sending again');
  return 'send';
}

async function attempt(
  db: Database,
  session: SmtpSession,
  row: ReplyRow,
  ctx: { now: Date; backoff: ReplyRetry; log: Logger; canLookUp: boolean },
): Promise<'sent' | 'retrying' | 'failed' | 'waiting'> {
  const what = { reply: row.id, run: row.run_id, messageId: row.message_id };
  if (row.state === 'sending' && row.attempts >= ctx.backoff.maxAttempts) {
    // Each of those attempts may have reached the list (not found there, or not looked for):
    // the bound on tries holds for them as for refusals.
    const message = `${row.attempts} attempts, none confirmed by the SMTP server`;
    markFailed(db, row, message);
    ctx.log.error({ ...what, attempts: row.attempts }, 'reply failed for good: ' + message);
    return 'failed';
  }
  // The in-flight mark is committed before a byte goes out: after a crash it says "maybe sent".
  if (!startSending(db, row.id, ctx.now.toISOString())) return 'waiting'; // another delivery pass got it first
  const attempts = row.attempts + 1;
  try {
    const info = await sendOverSmtp(session, envelopeOf(row), row.raw);
    if (info.rejected?.length)
      ctx.log.warn(
        { ...what, rejected: info.rejected },
        'reply sent, but the SMTP server refused some recipients',
      );
    markSent(db, row, ctx.now, 'sending');
    ctx.log.info({ ...what, attempts }, 'reply sent');
    return 'sent';
  } catch (e) {
    const err = e as SendError;
    const message = `${err.responseCode ? `${err.responseCode} ` : ''}${err.message}`.slice(0, 2000);
    const code = typeof err.responseCode === 'number' ? err.responseCode : null;
    const permanent = code !== null && code >= 500;
    // A 4xx answer to the end of DATA says the server did not take the message (RFC 5321
    // 4.2.5): an ordinary retry. Only no answer, a dropped connection or 421 (closing the
    // channel, perhaps after taking it) leave it unknown.
    const refused = code !== null && code >= 400 && code !== 421;
    if (err.handedOver && !permanent && !refused) return maybeSent(db, row, message, { ...ctx, attempts });
    if (permanent || attempts >= ctx.backoff.maxAttempts) {
      markFailed(db, row, message);
      ctx.log.error({ ...what, attempts, err: message }, 'reply failed for good');
      return 'failed';
    }
    const next = new Date(ctx.now.getTime() + backoffDelay(attempts, ctx.backoff)).toISOString();
    retryReplyAt(db, row.id, message, next);
    ctx.log.warn({ ...what, attempts, next, err: message }, 'reply not sent; will retry');
    return 'retrying';
  }
}

/**
 * The server had the whole reply and then failed to confirm it: it may be on its way to
 * the list. With a mailbox to look in, the reply stays in flight, so the next pass looks
 * for it there before sending it again (after the grace period). Without one, a second
 * send could only be a guess, and a duplicate on the list is the worse mistake: the reply
 * is marked failed, with why.
 */
function maybeSent(
  db: Database,
  row: ReplyRow,
  message: string,
  ctx: { log: Logger; canLookUp: boolean; attempts: number },
): 'waiting' | 'failed' {
  const what = { reply: row.id, run: row.run_id, messageId: row.message_id, attempts: ctx.attempts };
  if (ctx.canLookUp) {
    noteInFlightError(db, row.id, message);
    ctx.log.warn(
      { ...what, err: message },
      'the SMTP session failed after the reply was handed over: it may have been sent; looking in the list mailbox before sending again',
    );
    return 'waiting';
  }
  const why = `may have been sent: the SMTP session failed after DATA (${message}); not sent again, as no IMAP mailbox is configured to look for it`;
  markFailed(db, row, why.slice(0, 2000));
  ctx.log.error({ ...what, err: message }, `reply ${why}`);
  return 'failed';
}

function markFailed(db: Database, row: ReplyRow, error: string): void {
  markReplyFailed(db, row.id, error);
}

function markSent(db: Database, row: ReplyRow, now: Date, from: ReplyRow['state']): void {
  markReplySent(db, row, now.toISOString(), from);
}

/** MAIL FROM is the From header's address; RCPT TO exactly the recorded recipients. */
function envelopeOf(row: ReplyRow): { from: string; to: string[] } {
  const r = JSON.parse(row.recipients) as Recipients;
  return { from: fromHeaderAddress(row.raw), to: [...r.to, ...r.cc].map(addressOf) };
}
