import type { Database } from 'better-sqlite3';
import { searchFindings, type SymbolMatch } from '../db/findings.ts';
import { findingFromRow } from './run-detail.ts';
import { formatAuthor } from './series-list.ts';
import type { FindingFilters, FindingHit, Page, PageRequest } from './types.ts';

/**
 * Which symbol match a maintainer means: "hvm.c#cpu_callback" is Xen's key, exact;
 * "cpu_callback" is the name in any file (and the global of that name); a * or ? makes
 * it a glob over the key ("*.isra.0").
 */
function symbolMatch(symbol: string): SymbolMatch {
  if (/[*?[]/.test(symbol)) return 'glob';
  if (symbol.includes('#')) return 'key';
  return 'name';
}

/** Findings across all runs, newest first; paged by finding id. */
export function listFindings(db: Database, filters: FindingFilters, req: PageRequest): Page<FindingHit> {
  const limit = Math.max(1, Math.min(500, Math.floor(req.limit)));
  let offset = 0;
  let page: number | null = null;
  let beforeId: number | undefined;
  if (req.cursor) {
    const id = Number(Buffer.from(req.cursor, 'base64url').toString());
    if (!Number.isInteger(id))
      throw new Error(`cursor: "${req.cursor}" is not a cursor this server gave out`);
    beforeId = id;
  } else if (req.page) {
    page = Math.max(1, Math.floor(req.page));
    offset = (page - 1) * limit;
  }
  const rows = searchFindings(db, {
    symbol: filters.symbol ? { match: symbolMatch(filters.symbol), value: filters.symbol } : undefined,
    newOnly: filters.newOnly,
    kind: filters.kind,
    toolchain: filters.toolchain,
    since: filters.since,
    beforeId,
    limit: limit + 1,
    offset,
  });
  const more = rows.length > limit;
  const items = rows.slice(0, limit).map((r): FindingHit => ({
    ...findingFromRow(r, r),
    runId: r.run_id,
    verdict: r.verdict,
    finishedAt: r.finished_at,
    series:
      r.series_id !== null
        ? {
            id: r.series_id,
            title: r.title ?? '',
            author: formatAuthor(r.author_name, r.author_addr ?? ''),
            version: r.version ?? 1,
          }
        : null,
  }));
  const last = items.at(-1);
  return {
    items,
    limit,
    page,
    nextCursor: more && last ? Buffer.from(String(last.id)).toString('base64url') : null,
  };
}
