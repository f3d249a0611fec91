import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { int, intOrNull, raw, text } from './row.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  applied_at: string;
}

/** A database written by a newer listci: refusing it beats corrupting it. */
export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2]!, sql: readFileSync(join(dir, file), 'utf8') });
  }
  out.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migrations: expected ${String(i + 1).padStart(4, '0')}_*.sql, found ${m.version}`);
  });
  return out;
}

function ensureTable(db: Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
}

export function appliedMigrations(db: Database): AppliedMigration[] {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!exists) return [];
  return db
    .prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')
    .all()
    .map((row) => {
      const r = raw(row, 'schema_migrations');
      return { version: int(r, 'version'), name: text(r, 'name'), applied_at: text(r, 'applied_at') };
    });
}

/** Applies what is missing, each migration in its own transaction; returns what it applied. */
export function migrate(db: Database, migrations = readMigrations()): Migration[] {
  ensureTable(db);
  const applied = appliedMigrations(db);
  const newest = applied.at(-1)?.version ?? 0;
  const known = migrations.at(-1)?.version ?? 0;
  if (newest > known) {
    throw new SchemaTooNewError(
      `database schema is at version ${newest}, but this listci knows only up to ${known}: upgrade listci, or use another database`,
    );
  }
  const done = new Set(applied.map((a) => a.version));
  const ran: Migration[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    })();
    ran.push(m);
  }
  return ran;
}

/** The newest applied migration; throws when the database has no schema table (a health check's 503). */
export function schemaVersion(db: Database): number | null {
  return intOrNull(
    raw(db.prepare('SELECT max(version) AS v FROM schema_migrations').get(), 'schema_migrations'),
    'v',
  );
}
