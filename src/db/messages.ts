import type { Database, RunResult } from 'better-sqlite3';
import { now } from './open.ts';
import { blob, flag, int, raw, text, textOrNull } from './row.ts';
import { stmt } from './stmt.ts';

// Every mail exactly as it arrived, one row per Message-ID. Parsing fills the other
// columns later, from the stored bytes, so a parser fix can be re-run over them.

export const MESSAGE_KINDS = [
  'unclassified',
  'patch',
  'cover',
  'reply',
  'pull',
  'report',
  'other',
  'malformed',
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** A stored mail as its header and bytes; the parsed columns are what processing wrote. */
export interface MessageRow {
  id: number;
  message_id: string;
  synthetic_id: boolean;
  raw: Buffer;
  size: number;
  source: string;
  received_at: string;
  subject: string | null;
  /** JSON array of the References header, oldest first. */
  refs: string;
  mangled: string | null;
}

export function toMessageRow(row: unknown): MessageRow {
  const r = raw(row, 'messages');
  return {
    id: int(r, 'id'),
    message_id: text(r, 'message_id'),
    synthetic_id: flag(r, 'synthetic_id'),
    raw: blob(r, 'raw'),
    size: int(r, 'size'),
    source: text(r, 'source'),
    received_at: text(r, 'received_at'),
    subject: textOrNull(r, 'subject'),
    refs: text(r, 'refs'),
    mangled: textOrNull(r, 'mangled'),
  };
}

export interface StoredRow {
  id: number;
  /** false when a mail with this Message-ID was already stored (the new copy is dropped). */
  inserted: boolean;
}

export function insertRawMessage(
  db: Database,
  m: { messageId: string; synthetic: boolean; raw: Buffer; source: string },
): StoredRow {
  const res = stmt(
    db,
    `INSERT INTO messages (message_id, synthetic_id, raw, size, source, received_at)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(message_id) DO NOTHING`,
  ).run(m.messageId, m.synthetic ? 1 : 0, m.raw, m.raw.length, m.source, now());
  return insertedOrKept(db, m.messageId, res);
}

/** A mail that could not be stored whole: its header only, marked malformed with why. */
export function insertStubMessage(
  db: Database,
  m: { messageId: string; header: Buffer; size: number; source: string; reason: string; error: string },
): StoredRow {
  const res = stmt(
    db,
    `INSERT INTO messages (message_id, synthetic_id, raw, size, source, received_at, kind, kind_reason, error)
     VALUES (?, 1, ?, ?, ?, ?, 'malformed', ?, ?) ON CONFLICT(message_id) DO NOTHING`,
  ).run(m.messageId, m.header, m.size, m.source, now(), m.reason, m.error);
  return insertedOrKept(db, m.messageId, res);
}

/** The row an INSERT … ON CONFLICT(message_id) DO NOTHING made, or the one that was already there. */
function insertedOrKept(db: Database, messageId: string, res: RunResult): StoredRow {
  if (res.changes === 1) return { id: Number(res.lastInsertRowid), inserted: true };
  const row = stmt(db, 'SELECT id FROM messages WHERE message_id = ?').get(messageId);
  return { id: int(raw(row, 'messages'), 'id'), inserted: false };
}

export function messageById(db: Database, id: number): MessageRow | null {
  const row = stmt(db, 'SELECT * FROM messages WHERE id = ?').get(id);
  return row === undefined ? null : toMessageRow(row);
}

export function messageByMessageId(db: Database, messageId: string): MessageRow | null {
  const row = stmt(db, 'SELECT * FROM messages WHERE message_id = ?').get(messageId);
  return row === undefined ? null : toMessageRow(row);
}

/** What parsing and classification found in a stored mail. */
export interface ParsedColumns {
  subject: string;
  fromName: string | null;
  fromAddr: string | null;
  date: string | null;
  inReplyTo: string | null;
  references: string[];
  kind: MessageKind;
  kindReason: string;
  /** Parsed subject tags, stored as JSON. */
  tags: object;
  mangled: string | null;
  error: string | null;
  own: boolean;
}

export function writeParsed(db: Database, id: number, p: ParsedColumns): void {
  stmt(
    db,
    `UPDATE messages SET subject = ?, from_name = ?, from_addr = ?, date = ?, in_reply_to = ?, refs = ?,
         kind = ?, kind_reason = ?, tags = ?, mangled = ?, error = ?, own = ? WHERE id = ?`,
  ).run(
    p.subject,
    p.fromName,
    p.fromAddr,
    p.date,
    p.inReplyTo,
    JSON.stringify(p.references),
    p.kind,
    p.kindReason,
    JSON.stringify(p.tags),
    p.mangled,
    p.error,
    p.own ? 1 : 0,
    id,
  );
}

/** Kept and marked, never dropped: a maintainer can look at it and reprocess. */
export function markUnprocessable(db: Database, id: number, error: string): void {
  stmt(
    db,
    `UPDATE messages SET kind = 'malformed', kind_reason = 'listci failed to process it', error = ? WHERE id = ?`,
  ).run(error, id);
}

export function unclassifiedIds(db: Database): number[] {
  return stmt(db, `SELECT id FROM messages WHERE kind = 'unclassified' ORDER BY id`)
    .all()
    .map((row) => int(raw(row, 'messages'), 'id'));
}

/** The two mails were sent within the window of each other (Date header, else arrival). */
export function sentWithin(db: Database, messageId: string, date: string, windowMinutes: number): boolean {
  const row = stmt(
    db,
    `SELECT abs(julianday(coalesce(date, received_at)) - julianday(?)) * 1440 <= ? AS near
       FROM messages WHERE message_id = ?`,
  ).get(date, windowMinutes, messageId);
  return row !== undefined && raw(row, 'messages').near === 1;
}
