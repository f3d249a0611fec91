import type { Database } from 'better-sqlite3';
import { now } from './open.ts';
import { int, raw, text } from './row.ts';
import { stmt } from './stmt.ts';

// Where a public-inbox source stands in each epoch of its archive. The row moves in the
// transaction that stored the mail of that commit, never apart from it.

/** Epoch number to the last commit whose mail is stored. */
export function epochPositions(db: Database, inbox: string): Map<number, string> {
  const rows = stmt(db, 'SELECT epoch, last_commit FROM public_inbox_epochs WHERE inbox = ?').all(inbox);
  const out = new Map<number, string>();
  for (const row of rows) {
    const r = raw(row, 'public_inbox_epochs');
    out.set(int(r, 'epoch'), text(r, 'last_commit'));
  }
  return out;
}

export function writeEpochPosition(db: Database, inbox: string, epoch: number, commit: string): void {
  stmt(
    db,
    `INSERT INTO public_inbox_epochs (inbox, epoch, last_commit, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(inbox, epoch) DO UPDATE SET last_commit = excluded.last_commit, updated_at = excluded.updated_at`,
  ).run(inbox, epoch, commit, now());
}
