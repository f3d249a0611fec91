import type { Database, Statement } from 'better-sqlite3';

const cache = new WeakMap<Database, Map<string, Statement>>();

/**
 * A prepared statement, compiled once per connection: compiling costs more than running the
 * small statements of the per-mail and per-row paths (it was half the import time).
 */
export function stmt(db: Database, sql: string): Statement {
  let byDb = cache.get(db);
  if (!byDb) cache.set(db, (byDb = new Map()));
  let s = byDb.get(sql);
  if (!s) {
    s = db.prepare(sql);
    // SQL texts are few (values are bound, never spliced): the bound is only a safety net.
    if (byDb.size < 500) byDb.set(sql, s);
  }
  return s;
}
