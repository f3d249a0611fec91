import type { Database } from 'better-sqlite3';
import { blob, int, oneOf, raw, text, textOrNull } from './row.ts';
import { setReplySent } from './runs.ts';
import { stmt } from './stmt.ts';

// The durable outbox: a reply is recorded before it is sent and marked sent once.
// report/outbox.ts decides when; this module only moves the rows.

export const REPLY_STATES = ['pending', 'sending', 'sent', 'dry-run', 'suppressed', 'failed'] as const;
export type ReplyState = (typeof REPLY_STATES)[number];

export interface ReplyRow {
  id: number;
  run_id: number;
  message_id: string;
  /** JSON {to: [], cc: []}. */
  recipients: string;
  subject: string;
  raw: Buffer;
  state: ReplyState;
  reason: string | null;
  attempts: number;
  last_error: string | null;
  /** While 'sending': when that attempt started. */
  next_attempt_at: string | null;
  created_at: string;
  sent_at: string | null;
}

export function toReplyRow(row: unknown): ReplyRow {
  const r = raw(row, 'replies');
  return {
    id: int(r, 'id'),
    run_id: int(r, 'run_id'),
    message_id: text(r, 'message_id'),
    recipients: text(r, 'recipients'),
    subject: text(r, 'subject'),
    raw: blob(r, 'raw'),
    state: oneOf(r, 'state', REPLY_STATES),
    reason: textOrNull(r, 'reason'),
    attempts: int(r, 'attempts'),
    last_error: textOrNull(r, 'last_error'),
    next_attempt_at: textOrNull(r, 'next_attempt_at'),
    created_at: text(r, 'created_at'),
    sent_at: textOrNull(r, 'sent_at'),
  };
}

export interface NewReply {
  runId: number;
  messageId: string;
  recipients: object;
  subject: string;
  raw: Buffer;
  state: ReplyState;
  reason: string | null;
  createdAt: string;
}

/** Idempotent: a run that already has a reply keeps it, and that one is returned. */
export function insertReply(
  db: Database,
  r: NewReply,
): { id: number; state: ReplyState; inserted: boolean; messageId: string } {
  const res = stmt(
    db,
    `INSERT INTO replies (run_id, message_id, recipients, subject, raw, state, reason, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id) DO NOTHING`,
  ).run(r.runId, r.messageId, JSON.stringify(r.recipients), r.subject, r.raw, r.state, r.reason, r.createdAt);
  if (res.changes === 1)
    return { id: Number(res.lastInsertRowid), state: r.state, inserted: true, messageId: r.messageId };
  const kept = replyOfRun(db, r.runId);
  if (!kept) throw new Error(`insertReply: run ${r.runId} has no reply and none could be recorded`);
  return { id: kept.id, state: kept.state, inserted: false, messageId: kept.message_id };
}

export function replyOfRun(db: Database, runId: number): ReplyRow | null {
  const row = stmt(db, 'SELECT * FROM replies WHERE run_id = ?').get(runId);
  return row === undefined ? null : toReplyRow(row);
}

/** Replies whose attempt was under way when listci stopped (or whose SMTP session ended unclear). */
export function inFlightReplies(db: Database): ReplyRow[] {
  return stmt(db, `SELECT * FROM replies WHERE state = 'sending' ORDER BY id`).all().map(toReplyRow);
}

export function dueReplies(db: Database, at: string): ReplyRow[] {
  return stmt(
    db,
    `SELECT * FROM replies WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
       ORDER BY id`,
  )
    .all(at)
    .map(toReplyRow);
}

/**
 * The in-flight mark, committed before a byte goes out: after a crash it says "maybe
 * sent". false when another delivery pass got the reply first.
 */
export function startSending(db: Database, id: number, at: string): boolean {
  return (
    stmt(
      db,
      `UPDATE replies SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?
         WHERE id = ? AND state IN ('pending', 'sending')`,
    ).run(at, id).changes === 1
  );
}

/** Sent, and the run learns when, in one transaction; only from the state the caller saw. */
export function markReplySent(
  db: Database,
  reply: { id: number; run_id: number },
  at: string,
  from: ReplyState,
): void {
  db.transaction(() => {
    const res = stmt(
      db,
      `UPDATE replies SET state = 'sent', sent_at = ?, next_attempt_at = NULL WHERE id = ? AND state = ?`,
    ).run(at, reply.id, from);
    if (res.changes === 1) setReplySent(db, reply.run_id, at);
  })();
}

/** Refused before the server had it: back to pending until `next`. */
export function retryReplyAt(db: Database, id: number, error: string, next: string): void {
  stmt(
    db,
    `UPDATE replies SET state = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ? AND state = 'sending'`,
  ).run(error, next, id);
}

/** Still in flight, with why the last session ended. */
export function noteInFlightError(db: Database, id: number, error: string): void {
  stmt(db, `UPDATE replies SET last_error = ? WHERE id = ? AND state = 'sending'`).run(error, id);
}

export function markReplyFailed(db: Database, id: number, error: string): void {
  stmt(
    db,
    `UPDATE replies SET state = 'failed', last_error = ?, next_attempt_at = NULL WHERE id = ? AND state = 'sending'`,
  ).run(error, id);
}

/**
 * Recipients (JSON) of the replies created since `since` that went out, will, or would
 * have in dry-run: what a rate limit counts.
 */
export function recentCountedRecipients(db: Database, since: string): string[] {
  return stmt(
    db,
    `SELECT recipients FROM replies WHERE state IN ('pending', 'sending', 'sent', 'dry-run') AND created_at > ?`,
  )
    .all(since)
    .map((row) => text(raw(row, 'replies'), 'recipients'));
}
