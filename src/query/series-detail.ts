import type { Database } from 'better-sqlite3';
import { patchesOfVersion } from '../db/patches.ts';
import { parseJsonArray } from '../db/row.ts';
import { runIdsOfVersion } from '../db/run-reads.ts';
import { seriesById, seriesIdOfMessage } from '../db/series.ts';
import { versionsOfSeries, type VersionRow } from '../db/versions.ts';
import { getRun } from './run-detail.ts';
import { formatAuthor } from './series-list.ts';
import type { SeriesDetail, VersionDetail } from './types.ts';

/**
 * Finds a series by its id or by any Message-ID in it (cover letter, any patch, with or
 * without angle brackets): maintainers paste whatever mail they are looking at.
 */
export function findSeriesId(db: Database, key: string): number | null {
  const k = key.trim();
  if (/^\d+$/.test(k)) {
    return seriesById(db, Number(k))?.id ?? null;
  }
  const mid = k.replace(/^<|>$/g, '');
  return seriesIdOfMessage(db, mid);
}

/** One series with every version, run, build, finding and reply, oldest version first. */
export function getSeries(db: Database, key: string): SeriesDetail | null {
  const id = findSeriesId(db, key);
  if (id === null) return null;
  const s = seriesById(db, id);
  if (!s) return null;
  const versions = versionsOfSeries(db, id);
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
  const patches = patchesOfVersion(db, v.id).map((p) => ({
    number: p.number,
    subject: p.subject,
    messageId: p.message_id,
  }));
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
    runs: runIdsOfVersion(db, v.id)
      .map((id) => getRun(db, id))
      .filter((r) => r !== null),
  };
}
