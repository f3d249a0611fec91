import type { Database } from 'better-sqlite3';
import { now } from './open.ts';
import { int, raw, textOrNull } from './row.ts';
import { stmt } from './stmt.ts';

// Where each mail source stands, so a restart catches up instead of starting over.

export interface MailSyncRow {
  uidvalidity: string | null;
  last_uid: number;
}

export function readMark(db: Database, source: string): MailSyncRow | null {
  const row = stmt(db, 'SELECT uidvalidity, last_uid FROM mail_sync WHERE source = ?').get(source);
  if (row === undefined) return null;
  const r = raw(row, 'mail_sync');
  return { uidvalidity: textOrNull(r, 'uidvalidity'), last_uid: int(r, 'last_uid') };
}

export function writeMark(db: Database, source: string, uid: number): void {
  stmt(db, 'UPDATE mail_sync SET last_uid = ?, updated_at = ? WHERE source = ?').run(uid, now(), source);
}

/** A new UIDVALIDITY: every UID may now name another mail, so reading starts again from 0. */
export function resetMark(db: Database, source: string, uidValidity: string): void {
  stmt(
    db,
    `INSERT INTO mail_sync (source, uidvalidity, last_uid, updated_at) VALUES (?, ?, 0, ?)
     ON CONFLICT(source) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = 0, updated_at = excluded.updated_at`,
  ).run(source, uidValidity, now());
}
