import type { Database } from 'better-sqlite3';
import type { Verdict } from '../contract.ts';
import { findingFromRow } from './run-detail.ts';
import { formatAuthor } from './series-list.ts';
import { stmt } from '../db/stmt.ts';
import { TOOLCHAIN_MATCH, toolchainParams } from './sql.ts';
import type { FindingFilters, FindingHit, Page, PageRequest } from './types.ts';

/** Must match the expression of index findings_symbol_name (migration 0005) character for character. */
const SYMBOL_NAME = `(CASE WHEN instr(symbol, '#') > 0 THEN substr(symbol, instr(symbol, '#') + 1) ELSE symbol END)`;

/**
 * Which symbol condition a maintainer means: "hvm.c#cpu_callback" is Xen's key, exact;
 * "cpu_callback" is the name in any file (and the global of that name); a * or ? makes
 * it a glob over the key ("*.isra.0").
 */
function symbolCondition(symbol: string): { sql: string; value: string } {
  if (/[*?[]/.test(symbol)) return { sql: 'f.symbol GLOB @symbol', value: symbol };
  if (symbol.includes('#')) return { sql: 'f.symbol = @symbol', value: symbol };
  return { sql: `${SYMBOL_NAME.replaceAll('symbol', 'f.symbol')} = @symbol`, value: symbol };
}

/** Findings across all runs, newest first; paged by finding id. */
export function listFindings(db: Database, filters: FindingFilters, req: PageRequest): Page<FindingHit> {
  const limit = Math.max(1, Math.min(500, Math.floor(req.limit)));
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (filters.symbol) {
    const c = symbolCondition(filters.symbol);
    where.push(c.sql);
    params.symbol = c.value;
  }
  if (filters.newOnly) where.push(`f.status = 'new'`);
  if (filters.kind) {
    where.push('f.kind = @kind');
    params.kind = filters.kind;
  }
  if (filters.toolchain) {
    where.push(TOOLCHAIN_MATCH);
    Object.assign(params, toolchainParams(filters.toolchain));
  }
  if (filters.since) {
    where.push('r.finished_at >= @since');
    params.since = filters.since;
  }
  let offset = 0;
  let page: number | null = null;
  if (req.cursor) {
    const id = Number(Buffer.from(req.cursor, 'base64url').toString());
    if (!Number.isInteger(id))
      throw new Error(`cursor: "${req.cursor}" is not a cursor this server gave out`);
    where.push('f.id < @cursorId');
    params.cursorId = id;
  } else if (req.page) {
    page = Math.max(1, Math.floor(req.page));
    offset = (page - 1) * limit;
  }
  const rows = stmt(
    db,
    `SELECT f.*, b.toolchain, b.phase, r.verdict, r.finished_at, v.version, s.id AS series_id, s.title,
         s.author_name, s.author_addr
       FROM findings f
       JOIN builds b ON b.id = f.build_id
       JOIN runs r ON r.id = f.run_id
       LEFT JOIN series_versions v ON v.id = r.version_id
       LEFT JOIN series s ON s.id = v.series_id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY f.id DESC LIMIT @lim OFFSET @off`,
  ).all({ ...params, lim: limit + 1, off: offset }) as (Parameters<typeof findingFromRow>[0] & {
    toolchain: string;
    phase: string;
    run_id: number;
    verdict: Verdict | null;
    finished_at: string | null;
    version: number | null;
    series_id: number | null;
    title: string | null;
    author_name: string | null;
    author_addr: string | null;
  })[];
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
