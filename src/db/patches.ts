import type { Database } from 'better-sqlite3';
import { int, raw, text } from './row.ts';
import { stmt } from './stmt.ts';

// One patch mail in one series version: its number m of n.

export interface PatchRow {
  version_id: number;
  message_id: string;
  number: number;
  total: number;
  subject: string;
}

export function toPatchRow(row: unknown): PatchRow {
  const r = raw(row, 'patches');
  return {
    version_id: int(r, 'version_id'),
    message_id: text(r, 'message_id'),
    number: int(r, 'number'),
    total: int(r, 'total'),
    subject: text(r, 'subject'),
  };
}

/** A mail is one patch, once: placing it again changes nothing. */
export function insertPatch(db: Database, p: PatchRow): void {
  stmt(
    db,
    `INSERT INTO patches (version_id, message_id, number, total, subject) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  ).run(p.version_id, p.message_id, p.number, p.total, p.subject);
}

/** The version's patches, in order. */
export function patchesOfVersion(db: Database, versionId: number): PatchRow[] {
  return stmt(
    db,
    'SELECT version_id, message_id, number, total, subject FROM patches WHERE version_id = ? ORDER BY number',
  )
    .all(versionId)
    .map(toPatchRow);
}

export function hasPatchNumber(db: Database, versionId: number, number: number): boolean {
  return (
    stmt(db, 'SELECT 1 FROM patches WHERE version_id = ? AND number = ?').get(versionId, number) !== undefined
  );
}

/** Patches that reply to this mail: a cover letter (or patch 1) arriving after its patches. */
export function patchesReplyingTo(
  db: Database,
  messageId: string,
): { versionId: number; messageId: string }[] {
  return stmt(
    db,
    `SELECT p.version_id, p.message_id FROM messages msg JOIN patches p ON p.message_id = msg.message_id
       WHERE msg.in_reply_to = ?`,
  )
    .all(messageId)
    .map((row) => {
      const r = raw(row, 'patches');
      return { versionId: int(r, 'version_id'), messageId: text(r, 'message_id') };
    });
}
