import type { Database } from 'better-sqlite3';
import type { Verdict } from '../contract.ts';
import type { Page, PageRequest, SeriesFilters, SeriesListItem, ToolchainBadge } from './types.ts';
import {
  LATEST_RUN_OF_SERIES,
  TOOLCHAIN_VERDICT,
  TOOLCHAIN_MATCH,
  likeContains,
  toolchainParams,
} from './sql.ts';
import { stmt } from '../db/stmt.ts';

export const MAX_LIMIT = 200;

/** Opaque to clients; (updated_at, id) of the last row, so pages stay stable while series arrive. */
export function encodeCursor(updatedAt: string, id: number): string {
  return Buffer.from(`${updatedAt}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { updatedAt: string; id: number } {
  const text = Buffer.from(cursor, 'base64url').toString();
  const m = /^(.+)\|(\d+)$/.exec(text);
  if (!m) throw new Error(`cursor: "${cursor}" is not a cursor this server gave out`);
  return { updatedAt: m[1]!, id: Number(m[2]) };
}

/**
 * Series newest first, filtered. Two steps: pick the page's ids with the filters (the
 * only part that scans), then describe just those rows.
 */
export function listSeries(db: Database, filters: SeriesFilters, req: PageRequest): Page<SeriesListItem> {
  const limit = Math.max(1, Math.min(MAX_LIMIT, Math.floor(req.limit)));
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (filters.author) {
    where.push(`(s.author_addr LIKE @author ESCAPE '\\' OR s.author_name LIKE @author ESCAPE '\\')`);
    params.author = likeContains(filters.author);
  }
  if (filters.subject) {
    where.push(`s.title LIKE @subject ESCAPE '\\'`);
    params.subject = likeContains(filters.subject);
  }
  if (filters.list) {
    where.push('s.list = @list');
    params.list = filters.list;
  }
  if (filters.since) {
    where.push('s.updated_at >= @since');
    params.since = filters.since;
  }
  if (filters.version !== undefined) {
    where.push(
      'EXISTS (SELECT 1 FROM series_versions sv WHERE sv.series_id = s.id AND sv.version = @version)',
    );
    params.version = filters.version;
  }
  if (filters.toolchain) {
    Object.assign(params, toolchainParams(filters.toolchain));
    if (filters.verdict) params.verdict = filters.verdict;
    where.push(
      `EXISTS (SELECT 1 FROM builds b WHERE b.run_id = ${LATEST_RUN_OF_SERIES} AND b.phase = 'series'
        AND ${TOOLCHAIN_MATCH}${filters.verdict ? ` AND ${TOOLCHAIN_VERDICT} = @verdict` : ''})`,
    );
  } else if (filters.verdict) {
    where.push(`(SELECT verdict FROM runs WHERE id = ${LATEST_RUN_OF_SERIES}) = @verdict`);
    params.verdict = filters.verdict;
  }
  // A substring match cannot use an index. Walking series_recent and testing each row is
  // fast when the text is common and slow when it is rare (75 ms at 100,000 series); a
  // plain table scan and a top-N sort costs about 20 ms either way.
  const substring = Boolean(filters.author || filters.subject);
  let offset = 0;
  let page: number | null = null;
  if (req.cursor) {
    const c = decodeCursor(req.cursor);
    where.push('(s.updated_at, s.id) < (@cuAt, @cuId)');
    params.cuAt = c.updatedAt;
    params.cuId = c.id;
  } else if (req.page && req.page > 1) {
    page = Math.floor(req.page);
    offset = (page - 1) * limit;
  } else if (req.page) {
    page = 1;
  }
  const rows = stmt(
    db,
    `SELECT s.id, s.updated_at AS updatedAt FROM series s ${substring ? 'NOT INDEXED' : ''}
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY s.updated_at DESC, s.id DESC LIMIT @lim OFFSET @off`,
  ).all({ ...params, lim: limit + 1, off: offset }) as { id: number; updatedAt: string }[];
  const more = rows.length > limit;
  const pageRows = rows.slice(0, limit);
  const last = pageRows.at(-1);
  return {
    items: pageRows.map((r) => describeSeries(db, r.id)),
    limit,
    page,
    nextCursor: more && last ? encodeCursor(last.updatedAt, last.id) : null,
  };
}

/** A row of the series table as stored. */
export interface SeriesRow {
  id: number;
  list: string;
  title: string;
  author_name: string | null;
  author_addr: string;
  created_at: string;
  updated_at: string;
}

export const formatAuthor = (name: string | null, addr: string): string =>
  name ? `${name} <${addr}>` : addr;

/** One list row: the series, its latest version and the per-toolchain badges of its latest run. */
export function describeSeries(db: Database, id: number): SeriesListItem {
  const s = stmt(db, 'SELECT * FROM series WHERE id = ?').get(id) as SeriesRow;
  const v = stmt(
    db,
    `SELECT max(version) AS latest, count(*) AS n,
         (SELECT head_message_id FROM series_versions WHERE series_id = @id ORDER BY version DESC, id DESC LIMIT 1) AS head
       FROM series_versions WHERE series_id = @id`,
  ).get({ id }) as { latest: number | null; n: number; head: string | null };
  const run = stmt(
    db,
    `SELECT r.id, v.version, r.verdict, r.summary, r.finished_at AS finishedAt
       FROM runs r JOIN series_versions v ON v.id = r.version_id WHERE r.id = ${LATEST_RUN_OF_SERIES.replaceAll('s.id', '@id')}`,
  ).get({ id }) as
    | {
        id: number;
        version: number;
        verdict: Verdict | null;
        summary: string | null;
        finishedAt: string | null;
      }
    | undefined;
  const toolchains = run ? toolchainBadges(db, run.id) : [];
  return {
    id: s.id,
    list: s.list,
    title: s.title,
    author: formatAuthor(s.author_name, s.author_addr),
    authorName: s.author_name,
    authorAddr: s.author_addr,
    latestVersion: v.latest ?? 1,
    versions: v.n,
    headMessageId: v.head,
    createdAt: s.created_at,
    updatedAt: s.updated_at,
    latestRun: run ?? null,
    toolchains,
  };
}

export function toolchainBadges(db: Database, runId: number): ToolchainBadge[] {
  return stmt(
    db,
    `SELECT b.toolchain, b.status, ${TOOLCHAIN_VERDICT} AS verdict,
         (SELECT count(*) FROM findings f
           WHERE f.run_id = b.run_id AND f.build_id = b.id AND f.kind = 'duplicate-symbol' AND f.status = 'new')
           AS newDuplicates
       FROM builds b WHERE b.run_id = ? AND b.phase = 'series' ORDER BY b.toolchain`,
  ).all(runId) as ToolchainBadge[];
}
