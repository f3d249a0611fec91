import type { Database } from 'better-sqlite3';
import { getRun } from './run-detail.ts';
import { formatAuthor, type SeriesRow } from './series-list.ts';
import { stmt } from '../db/stmt.ts';
import { parseJsonArray } from './sql.ts';
import type { SeriesDetail, VersionDetail } from './types.ts';

/**
 * Finds a series by its id or by any Message-ID in it (cover letter, any patch, with or
 * without angle brackets): maintainers paste whatever mail they are looking at.
 */
export function findSeriesId(db: Database, key: string): number | null {
  const k = key.trim();
  if (/^\d+$/.test(k)) {
    const row = stmt(db, 'SELECT id FROM series WHERE id = ?').get(Number(k)) as { id: number } | undefined;
    return row?.id ?? null;
  }
  const mid = k.replace(/^<|>$/g, '');
  const row = stmt(
    db,
    `SELECT series_id AS id FROM series_versions WHERE head_message_id = @mid OR cover_message_id = @mid
       UNION ALL
       SELECT v.series_id FROM patches p JOIN series_versions v ON v.id = p.version_id WHERE p.message_id = @mid
       LIMIT 1`,
  ).get({ mid }) as { id: number } | undefined;
  return row?.id ?? null;
}

interface VersionRow {
  id: number;
  version: number;
  total: number;
  resend: number;
  subject: string;
  head_message_id: string;
  cover_message_id: string | null;
  tags: string;
  state: string;
  missing: string;
  first_seen_at: string;
  complete_at: string | null;
}

/** One series with every version, run, build, finding and reply, oldest version first. */
export function getSeries(db: Database, key: string): SeriesDetail | null {
  const id = findSeriesId(db, key);
  if (id === null) return null;
  const s = stmt(db, 'SELECT * FROM series WHERE id = ?').get(id) as SeriesRow;
  const versions = stmt(db, 'SELECT * FROM series_versions WHERE series_id = ? ORDER BY version, id').all(
    id,
  ) as VersionRow[];
  return {
    id: s.id,
    list: s.list,
    title: s.title,
    author: formatAuthor(s.author_name, s.author_addr),
    authorName: s.author_name,
    authorAddr: s.author_addr,
    createdAt: s.created_at,
    updatedAt: s.updated_at,
    versions: versions.map((v) => describeVersion(db, v)),
  };
}

function describeVersion(db: Database, v: VersionRow): VersionDetail {
  const patches = stmt(
    db,
    'SELECT number, subject, message_id AS messageId FROM patches WHERE version_id = ? ORDER BY number',
  ).all(v.id) as { number: number; subject: string; messageId: string }[];
  const runIds = stmt(db, 'SELECT id FROM runs WHERE version_id = ? ORDER BY id').all(v.id) as {
    id: number;
  }[];
  return {
    id: v.id,
    version: v.version,
    total: v.total,
    resend: v.resend === 1,
    subject: v.subject,
    headMessageId: v.head_message_id,
    coverMessageId: v.cover_message_id,
    tags: parseJsonArray<string>(v.tags),
    state: v.state,
    missing: parseJsonArray<number>(v.missing),
    firstSeenAt: v.first_seen_at,
    completeAt: v.complete_at,
    patches,
    runs: runIds.map((r) => getRun(db, r.id)).filter((r) => r !== null),
  };
}
