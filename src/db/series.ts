import type { Database } from 'better-sqlite3';
import { VERDICTS } from './builds.ts';
import { int, intOrNull, raw, text, textOrNull } from './row.ts';
import {
  LATEST_RUN_OF_SERIES,
  TOOLCHAIN_MATCH,
  TOOLCHAIN_VERDICT,
  likeContains,
  toolchainParams,
} from './sql.ts';
import { stmt } from './stmt.ts';

// A series is the lineage of versions of one piece of work (same author, same normalised title).

export interface SeriesRow {
  id: number;
  list: string;
  title: string;
  author_name: string | null;
  author_addr: string;
  created_at: string;
  updated_at: string;
  /** The series whose thread this one started in, when it did. */
  related_to: number | null;
}

export function toSeriesRow(row: unknown): SeriesRow {
  const r = raw(row, 'series');
  return {
    id: int(r, 'id'),
    list: text(r, 'list'),
    title: text(r, 'title'),
    author_name: textOrNull(r, 'author_name'),
    author_addr: text(r, 'author_addr'),
    created_at: text(r, 'created_at'),
    updated_at: text(r, 'updated_at'),
    related_to: intOrNull(r, 'related_to'),
  };
}

export function insertSeries(
  db: Database,
  s: {
    list: string;
    title: string;
    authorName: string | null;
    authorAddr: string;
    relatedTo: number | null;
    now: string;
  },
): number {
  const res = stmt(
    db,
    `INSERT INTO series (list, title, author_name, author_addr, related_to, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(s.list, s.title, s.authorName, s.authorAddr, s.relatedTo, s.now, s.now);
  return Number(res.lastInsertRowid);
}

export function seriesById(db: Database, id: number): SeriesRow | null {
  const row = stmt(db, 'SELECT * FROM series WHERE id = ?').get(id);
  return row === undefined ? null : toSeriesRow(row);
}

export function setSeriesTitle(db: Database, id: number, title: string): void {
  stmt(db, 'UPDATE series SET title = ? WHERE id = ?').run(title, id);
}

/** The author's newest series of this title. */
export function seriesByAuthorAndTitle(db: Database, authorAddr: string, title: string): number | null {
  const row = stmt(
    db,
    'SELECT id FROM series WHERE author_addr = ? AND title = ? ORDER BY id DESC LIMIT 1',
  ).get(authorAddr, title);
  return row === undefined ? null : int(raw(row, 'series'), 'id');
}

/** The series holding this Message-ID as cover letter, head or any patch. */
export function seriesIdOfMessage(db: Database, messageId: string): number | null {
  const row = stmt(
    db,
    `SELECT series_id AS id FROM series_versions WHERE head_message_id = @mid OR cover_message_id = @mid
       UNION ALL
       SELECT v.series_id FROM patches p JOIN series_versions v ON v.id = p.version_id WHERE p.message_id = @mid
       LIMIT 1`,
  ).get({ mid: messageId });
  return row === undefined ? null : int(raw(row, 'series'), 'id');
}

export interface SeriesSearch {
  author?: string;
  subject?: string;
  list?: string;
  verdict?: (typeof VERDICTS)[number];
  toolchain?: string;
  since?: string;
  version?: number;
  /** Only series before this (updated_at, id): the keyset cursor. */
  before?: { updatedAt: string; id: number };
  limit: number;
  offset: number;
}

/** Series ids newest first, filtered: the only part of the list that scans. */
export function searchSeries(db: Database, q: SeriesSearch): { id: number; updatedAt: string }[] {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (q.author) {
    where.push(`(s.author_addr LIKE @author ESCAPE '\\' OR s.author_name LIKE @author ESCAPE '\\')`);
    params.author = likeContains(q.author);
  }
  if (q.subject) {
    where.push(`s.title LIKE @subject ESCAPE '\\'`);
    params.subject = likeContains(q.subject);
  }
  if (q.list) {
    where.push('s.list = @list');
    params.list = q.list;
  }
  if (q.since) {
    where.push('s.updated_at >= @since');
    params.since = q.since;
  }
  if (q.version !== undefined) {
    where.push(
      'EXISTS (SELECT 1 FROM series_versions sv WHERE sv.series_id = s.id AND sv.version = @version)',
    );
    params.version = q.version;
  }
  if (q.toolchain) {
    Object.assign(params, toolchainParams(q.toolchain));
    if (q.verdict) params.verdict = q.verdict;
    where.push(
      `EXISTS (SELECT 1 FROM builds b WHERE b.run_id = ${LATEST_RUN_OF_SERIES} AND b.phase = 'series'
        AND ${TOOLCHAIN_MATCH}${q.verdict ? ` AND ${TOOLCHAIN_VERDICT} = @verdict` : ''})`,
    );
  } else if (q.verdict) {
    where.push(`(SELECT verdict FROM runs WHERE id = ${LATEST_RUN_OF_SERIES}) = @verdict`);
    params.verdict = q.verdict;
  }
  if (q.before) {
    where.push('(s.updated_at, s.id) < (@cuAt, @cuId)');
    params.cuAt = q.before.updatedAt;
    params.cuId = q.before.id;
  }
  // A substring match cannot use an index. Walking series_recent and testing each row is
  // fast when the text is common and slow when it is rare (75 ms at 100,000 series); a
  // plain table scan and a top-N sort costs about 20 ms either way.
  const substring = Boolean(q.author || q.subject);
  return stmt(
    db,
    `SELECT s.id, s.updated_at AS updatedAt FROM series s ${substring ? 'NOT INDEXED' : ''}
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY s.updated_at DESC, s.id DESC LIMIT @lim OFFSET @off`,
  )
    .all({ ...params, lim: q.limit, off: q.offset })
    .map((row) => {
      const r = raw(row, 'series');
      return { id: int(r, 'id'), updatedAt: text(r, 'updatedAt') };
    });
}
