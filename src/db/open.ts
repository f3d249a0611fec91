import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { appliedMigrations, migrate, readMigrations, SchemaTooNewError } from './migrate.ts';

export type { Database };

export interface OpenOptions {
  /** The web side opens read-only: it never writes. */
  readonly?: boolean;
  /** Apply pending migrations (default true for writers). */
  migrate?: boolean;
}

export function openDb(path: string, opts: OpenOptions = {}): Database {
  if (!opts.readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path, {
    readonly: opts.readonly ?? false,
    fileMustExist: opts.readonly ?? false,
  });
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    if (opts.migrate ?? true) migrate(db);
  } else {
    const newest = appliedMigrations(db).at(-1)?.version ?? 0;
    const known = readMigrations().at(-1)?.version ?? 0;
    if (newest > known)
      throw new SchemaTooNewError(
        `database schema is at version ${newest}, but this listci knows only up to ${known}`,
      );
  }
  return db;
}

export const now = (): string => new Date().toISOString();
