import type { Database } from 'better-sqlite3';
import { seriesBuildBadges } from '../db/builds.ts';
import { latestRunOfSeries } from '../db/run-reads.ts';
import { searchSeries, seriesById } from '../db/series.ts';
import { versionSummary } from '../db/versions.ts';
import type { Page, PageRequest, SeriesFilters, SeriesListItem, ToolchainBadge } from './types.ts';

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
  let offset = 0;
  let page: number | null = null;
  let before: { updatedAt: string; id: number } | undefined;
  if (req.cursor) {
    before = decodeCursor(req.cursor);
  } else if (req.page && req.page > 1) {
    page = Math.floor(req.page);
    offset = (page - 1) * limit;
  } else if (req.page) {
    page = 1;
  }
  const rows = searchSeries(db, { ...filters, before, limit: limit + 1, offset });
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

export const formatAuthor = (name: string | null, addr: string): string =>
  name ? `${name} <${addr}>` : addr;

/** One list row: the series, its latest version and the per-toolchain badges of its latest run. */
export function describeSeries(db: Database, id: number): SeriesListItem {
  const s = seriesById(db, id);
  if (!s) throw new Error(`series ${id} does not exist`);
  const v = versionSummary(db, id);
  const run = latestRunOfSeries(db, id);
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
    latestRun: run,
    toolchains: run ? toolchainBadges(db, run.id) : [],
  };
}

export function toolchainBadges(db: Database, runId: number): ToolchainBadge[] {
  return seriesBuildBadges(db, runId);
}
