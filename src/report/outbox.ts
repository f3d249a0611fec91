import { Readable } from 'node:stream';
import type { Database } from 'better-sqlite3';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RawConfig } from '../config/schema.ts';
import { findMessageIdOverImap, type ImapMailboxOptions } from '../ingest/imap-search.ts';
import { silentLogger, type Logger } from '../log.ts';
import { addressOf, type BuiltReply, type Recipients } from './message.ts';
import type { ReplyState } from './policy.ts';

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

export type SmtpConfig = NonNullable<RawConfig['reply']['smtp']>;

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
  const now = (opts.now ?? new Date()).toISOString();
  const res = db
    .prepare(
      `INSERT INTO replies (run_id, message_id, recipients, subject, raw, state, reason, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id) DO NOTHING`,
    )
    .run(
      runId,
      message.messageId,
      JSON.stringify(message.recipients),
      message.subject,
      message.raw,
      opts.state ?? 'pending',
      opts.reason ?? null,
      now,
    );
  if (res.changes === 1)
    return {
      id: Number(res.lastInsertRowid),
      state: opts.state ?? 'pending',
      inserted: true,
      messageId: message.messageId,
    };
  const row = db.prepare('SELECT id, state, message_id FROM replies WHERE run_id = ?').get(runId) as {
    id: number;
    state: string;
    message_id: string;
  };
  return { id: row.id, state: row.state, inserted: false, messageId: row.message_id };
}

export interface Backoff {
  baseMs: number;
  maxMs: number;
  /** After this many failed attempts the reply is marked 'failed'. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 60_000, maxMs: 3600_000, maxAttempts: 10 };

/** Delay after the n-th failed attempt (1-based): base, 2×base, 4×base, … capped. */
export function backoffDelay(attempts: number, b: Backoff = DEFAULT_BACKOFF): number {
  return Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, attempts - 1));
}

export interface DeliverOptions {
  smtp?: SmtpConfig | null;
  password?: string | null;
  /**
   * Is a mail with this Message-ID in the list's mailbox? (findMessageIdOverImap) Without
   * it, a reply whose SMTP session failed after DATA is marked failed rather than risk a
   * second copy on the list; one interrupted by a crash is sent again.
   */
  imapCheck?: ((messageId: string) => Promise<boolean>) | null;
  now?: Date;
  backoff?: Backoff;
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

interface ReplyRow {
  id: number;
  run_id: number;
  message_id: string;
  recipients: string;
  raw: Buffer;
  state: string;
  attempts: number;
  next_attempt_at: string | null;
}

/** Sends every due reply once; returns what happened to each. Call it again on a timer. */
export async function deliverPending(db: Database, opts: DeliverOptions = {}): Promise<DeliveryReport> {
  const now = opts.now ?? new Date();
  const log = opts.log ?? silentLogger;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const grace = opts.inFlightGraceMs ?? 15 * 60_000;
  const report: DeliveryReport = { sent: [], foundInMailbox: [], waiting: [], retrying: [], failed: [] };

  const due: ReplyRow[] = [];
  const inFlight = db
    .prepare(`SELECT * FROM replies WHERE state = 'sending' ORDER BY id`)
    .all() as ReplyRow[];
  for (const row of inFlight) {
    const verdict = await recoverInFlight(db, row, { imapCheck: opts.imapCheck ?? null, now, grace, log });
    if (verdict === 'found') report.foundInMailbox.push(row.id);
    else if (verdict === 'wait') report.waiting.push(row.id);
    else due.push(row);
  }
  due.push(
    ...(db
      .prepare(
        `SELECT * FROM replies WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
         ORDER BY id`,
      )
      .all(now.toISOString()) as ReplyRow[]),
  );
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

interface SmtpSession {
  smtp: SmtpConfig;
  password: string | null;
  socketTimeoutMs: number;
}

/** A failed SMTP session; `handedOver` once the server had been given the message. */
type SendError = SMTPConnection.SMTPError & { handedOver?: boolean };

/**
 * One SMTP session for one reply. SMTPConnection pipes the message only once the server
 * has answered DATA with 354, so the first read of it marks the point from which the
 * server may end up with the whole reply whatever goes wrong next: an error from then on
 * says `handedOver`, one before it means the reply was not sent.
 */
function sendOverSmtp(
  o: SmtpSession,
  envelope: { from: string; to: string[] },
  raw: Buffer,
): Promise<SMTPConnection.SentMessageInfo> {
  return new Promise((resolve, reject) => {
    let handedOver = false;
    let settled = false;
    const conn = new SMTPConnection({
      host: o.smtp.host,
      port: o.smtp.port,
      secure: o.smtp.secure,
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: o.socketTimeoutMs,
    });
    const finish = (err: SendError | null | undefined, info?: SMTPConnection.SentMessageInfo): void => {
      if (settled) return;
      settled = true;
      conn.close();
      if (err) reject(Object.assign(err, { handedOver }));
      else resolve(info!);
    };
    // Errors reach the callbacks too, but an 'error' event nobody listens to would crash the daemon.
    conn.on('error', (err: SendError) => finish(err));
    const message = new Readable({
      read() {
        handedOver = true;
        this.push(raw);
        this.push(null);
      },
    });
    const send = (): void => conn.send(envelope, message, (err, info) => finish(err, info));
    conn.connect((err) => {
      if (err) return finish(err);
      if (!o.smtp.user) return send();
      conn.login({ user: o.smtp.user, pass: o.password ?? '' }, (e) => (e ? finish(e) : send()));
    });
  });
}

async function recoverInFlight(
  db: Database,
  row: ReplyRow,
  ctx: {
    imapCheck: ((messageId: string) => Promise<boolean>) | null;
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

function markSent(db: Database, row: ReplyRow, now: Date, from: string): void {
  const t = now.toISOString();
  db.transaction(() => {
    const res = db
      .prepare(
        `UPDATE replies SET state = 'sent', sent_at = ?, next_attempt_at = NULL WHERE id = ? AND state = ?`,
      )
      .run(t, row.id, from);
    if (res.changes === 1)
      db.prepare('UPDATE runs SET reply_sent_at = ? WHERE id = ? AND reply_sent_at IS NULL').run(
        t,
        row.run_id,
      );
  })();
}

async function attempt(
  db: Database,
  session: SmtpSession,
  row: ReplyRow,
  ctx: { now: Date; backoff: Backoff; log: Logger; canLookUp: boolean },
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
  const claimed = db
    .prepare(
      `UPDATE replies SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?
       WHERE id = ? AND state IN ('pending', 'sending')`,
    )
    .run(ctx.now.toISOString(), row.id);
  if (claimed.changes !== 1) return 'waiting'; // another delivery pass got it first
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
    db.prepare(
      `UPDATE replies SET state = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ? AND state = 'sending'`,
    ).run(message, next, row.id);
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
    db.prepare(`UPDATE replies SET last_error = ? WHERE id = ? AND state = 'sending'`).run(message, row.id);
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
  db.prepare(
    `UPDATE replies SET state = 'failed', last_error = ?, next_attempt_at = NULL WHERE id = ? AND state = 'sending'`,
  ).run(error, row.id);
}

/** MAIL FROM is the From header's address; RCPT TO exactly the recorded recipients. */
function envelopeOf(row: ReplyRow): { from: string; to: string[] } {
  const r = JSON.parse(row.recipients) as Recipients;
  return { from: fromHeaderAddress(row.raw), to: [...r.to, ...r.cc].map(addressOf) };
}

function fromHeaderAddress(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw
    .subarray(0, end < 0 ? raw.length : end)
    .toString('utf8')
    .replace(/\r?\n[ \t]+/g, ' ');
  const m = /^from:[ \t]*(.*)$/im.exec(head);
  if (!m) throw new Error('stored reply has no From header');
  return addressOf(m[1]!);
}

/** The in-flight check against the list's mailbox, for deliverPending's `imapCheck`. */
export function imapCheckFor(mailbox: ImapMailboxOptions): (messageId: string) => Promise<boolean> {
  return (messageId) => findMessageIdOverImap(mailbox, messageId);
}
