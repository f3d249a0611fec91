import type { Database } from 'better-sqlite3';
import { int, intOrNull, oneOf, raw, text, textOrNull, type Raw } from './row.ts';
import { stmt } from './stmt.ts';

// series_versions: one posting of a series (v1, v2, a RESEND), and whether all its patches came.

export const VERSION_STATES = ['incomplete', 'complete', 'superseded'] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export interface VersionRow {
  id: number;
  series_id: number;
  version: number;
  total: number;
  resend: number;
  subject: string;
  head_message_id: string;
  cover_message_id: string | null;
  /** JSON array of subject prefixes: ["RFC", "for-4.19"]. */
  tags: string;
  state: VersionState;
  /** JSON array of patch numbers not seen. */
  missing: string;
  superseded_by: number | null;
  reuses_version: number | null;
  first_seen_at: string;
  complete_at: string | null;
}

export function toVersionRow(row: unknown): VersionRow {
  const r = raw(row, 'series_versions');
  return {
    id: int(r, 'id'),
    series_id: int(r, 'series_id'),
    version: int(r, 'version'),
    total: int(r, 'total'),
    resend: int(r, 'resend'),
    subject: text(r, 'subject'),
    head_message_id: text(r, 'head_message_id'),
    cover_message_id: textOrNull(r, 'cover_message_id'),
    tags: text(r, 'tags'),
    state: oneOf(r, 'state', VERSION_STATES),
    missing: text(r, 'missing'),
    superseded_by: intOrNull(r, 'superseded_by'),
    reuses_version: intOrNull(r, 'reuses_version'),
    first_seen_at: text(r, 'first_seen_at'),
    complete_at: textOrNull(r, 'complete_at'),
  };
}

/** A version as the grouping rules compare it: its shape, and its series' author. */
export interface PlacedVersion {
  id: number;
  series_id: number;
  version: number;
  total: number;
  resend: number;
  state: VersionState;
  head_message_id: string;
  cover_message_id: string | null;
  /** Of the series: every version in it comes from this author. */
  author_addr: string;
}

function toPlaced(row: unknown): PlacedVersion {
  const r: Raw = raw(row, 'series_versions');
  return {
    id: int(r, 'id'),
    series_id: int(r, 'series_id'),
    version: int(r, 'version'),
    total: int(r, 'total'),
    resend: int(r, 'resend'),
    state: oneOf(r, 'state', VERSION_STATES),
    head_message_id: text(r, 'head_message_id'),
    cover_message_id: textOrNull(r, 'cover_message_id'),
    author_addr: text(r, 'author_addr'),
  };
}

const PLACED_COLS =
  'sv.id, sv.series_id, sv.version, sv.total, sv.resend, sv.state, sv.head_message_id, sv.cover_message_id, s.author_addr';

/** The version a message already belongs to, as head or patch (a cover letter is always its version's head). */
export function versionOfMessage(db: Database, messageId: string): PlacedVersion | null {
  const row = stmt(
    db,
    `SELECT ${PLACED_COLS} FROM series_versions sv JOIN series s ON s.id = sv.series_id
       WHERE sv.head_message_id = ?
       UNION ALL
       SELECT ${PLACED_COLS} FROM patches p JOIN series_versions sv ON sv.id = p.version_id
         JOIN series s ON s.id = sv.series_id
       WHERE p.message_id = ?
       LIMIT 1`,
  ).get(messageId, messageId);
  return row === undefined ? null : toPlaced(row);
}

export function placedVersionById(db: Database, id: number): PlacedVersion | null {
  const row = stmt(
    db,
    `SELECT ${PLACED_COLS} FROM series_versions sv JOIN series s ON s.id = sv.series_id WHERE sv.id = ?`,
  ).get(id);
  return row === undefined ? null : toPlaced(row);
}

/** Versions of the same shape and tags by this author whose head was sent within the window, newest first. */
export function versionsByMarkers(
  db: Database,
  m: { authorAddr: string; version: number; total: number; resend: boolean; tags: string[]; date: string },
  windowMinutes: number,
): PlacedVersion[] {
  return stmt(
    db,
    `SELECT ${PLACED_COLS} FROM series_versions sv
       JOIN series s ON s.id = sv.series_id
       JOIN messages hm ON hm.message_id = sv.head_message_id
       WHERE s.author_addr = ? AND sv.version = ? AND sv.total = ? AND sv.resend = ? AND sv.tags = ?
         AND sv.state != 'superseded'
         AND abs(julianday(coalesce(hm.date, hm.received_at)) - julianday(?)) * 1440 <= ?
       ORDER BY sv.id DESC`,
  )
    .all(m.authorAddr, m.version, m.total, m.resend ? 1 : 0, JSON.stringify(m.tags), m.date, windowMinutes)
    .map(toPlaced);
}

export interface NewVersion {
  seriesId: number;
  version: number;
  total: number;
  resend: boolean;
  subject: string;
  headMessageId: string;
  tags: string[];
  firstSeenAt: string;
}

export function insertVersion(db: Database, v: NewVersion): number {
  const res = stmt(
    db,
    `INSERT INTO series_versions (series_id, version, total, resend, subject, head_message_id, tags, first_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    v.seriesId,
    v.version,
    v.total,
    v.resend ? 1 : 0,
    v.subject,
    v.headMessageId,
    JSON.stringify(v.tags),
    v.firstSeenAt,
  );
  return Number(res.lastInsertRowid);
}

export function versionById(db: Database, id: number): VersionRow | null {
  const row = stmt(db, 'SELECT * FROM series_versions WHERE id = ?').get(id);
  return row === undefined ? null : toVersionRow(row);
}

export function versionsOfSeries(db: Database, seriesId: number): VersionRow[] {
  return stmt(db, 'SELECT * FROM series_versions WHERE series_id = ? ORDER BY version, id')
    .all(seriesId)
    .map(toVersionRow);
}

/** The cover letter heads its version and names it. */
export function setCover(
  db: Database,
  id: number,
  c: { messageId: string; subject: string; tags: string[]; version: number; resend: boolean },
): void {
  stmt(
    db,
    `UPDATE series_versions SET cover_message_id = ?, head_message_id = ?, subject = ?, tags = ?,
         version = ?, resend = ? WHERE id = ?`,
  ).run(c.messageId, c.messageId, c.subject, JSON.stringify(c.tags), c.version, c.resend ? 1 : 0, id);
}

export function setHead(db: Database, id: number, messageId: string, subject: string): void {
  stmt(db, 'UPDATE series_versions SET head_message_id = ?, subject = ? WHERE id = ?').run(
    messageId,
    subject,
    id,
  );
}

export function setCompleteness(
  db: Database,
  id: number,
  c: { missing: number[]; state: VersionState; completeAt: string | null },
): void {
  stmt(db, 'UPDATE series_versions SET missing = ?, state = ?, complete_at = ? WHERE id = ?').run(
    JSON.stringify(c.missing),
    c.state,
    c.completeAt,
    id,
  );
}

export function countVersionsOfSeries(db: Database, seriesId: number): number {
  return int(
    raw(
      stmt(db, 'SELECT count(*) AS n FROM series_versions WHERE series_id = ?').get(seriesId),
      'series_versions',
    ),
    'n',
  );
}

/**
 * Every version of a series older than its newest version number is superseded by the
 * newest (a RESEND carries the same number and supersedes nothing). Returns their ids.
 */
export function supersedeOlder(db: Database, seriesId: number): number[] {
  const newest = raw(
    stmt(
      db,
      'SELECT id, version FROM series_versions WHERE series_id = ? ORDER BY version DESC, id ASC LIMIT 1',
    ).get(seriesId),
    'series_versions',
  );
  return stmt(
    db,
    `UPDATE series_versions SET state = 'superseded', superseded_by = ?
       WHERE series_id = ? AND version < ? AND state != 'superseded' RETURNING id`,
  )
    .all(int(newest, 'id'), seriesId, int(newest, 'version'))
    .map((row) => int(raw(row, 'series_versions'), 'id'));
}

/** Earlier postings with the same version number and total, newest first: what a RESEND may repeat. */
export function earlierPostings(db: Database, v: VersionRow): number[] {
  return stmt(
    db,
    `SELECT id FROM series_versions WHERE series_id = ? AND version = ? AND total = ? AND id < ?
       ORDER BY id DESC`,
  )
    .all(v.series_id, v.version, v.total, v.id)
    .map((row) => int(raw(row, 'series_versions'), 'id'));
}

export function setReuses(db: Database, id: number, reusesId: number): void {
  stmt(db, 'UPDATE series_versions SET reuses_version = ? WHERE id = ?').run(reusesId, id);
}

/**
 * Versions to check now: complete ones, and incomplete ones first seen before the cutoff.
 * Versions with a run already, and superseded ones, are left out.
 */
export function versionsWithoutRun(db: Database, incompleteCutoff: string): VersionRow[] {
  return stmt(
    db,
    `SELECT * FROM series_versions sv
       WHERE (state = 'complete' OR (state = 'incomplete' AND first_seen_at <= ?))
         AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.version_id = sv.id)
       ORDER BY id`,
  )
    .all(incompleteCutoff)
    .map(toVersionRow);
}

/** When listci first saw any mail of this version: the start of the contributor's wait. */
export function firstMailReceivedAt(db: Database, id: number): string {
  const row = stmt(
    db,
    `SELECT coalesce(
                  (SELECT min(m.received_at) FROM messages m
                    WHERE m.message_id = sv.head_message_id
                       OR m.message_id IN (SELECT message_id FROM patches WHERE version_id = sv.id)),
                  sv.first_seen_at) AS received
           FROM series_versions sv WHERE sv.id = ?`,
  ).get(id);
  return text(raw(row, 'series_versions'), 'received');
}

/** The version a Message-ID names: its cover letter, head or any patch. */
export function versionIdOfMessage(db: Database, messageId: string): number | null {
  const row = stmt(
    db,
    `SELECT id FROM series_versions WHERE head_message_id = ? OR cover_message_id = ?
       UNION SELECT version_id FROM patches WHERE message_id = ? LIMIT 1`,
  ).get(messageId, messageId, messageId);
  return row === undefined ? null : int(raw(row, 'series_versions'), 'id');
}

/** The newest version not superseded: what an mbox of one series is about. */
export function newestCurrentVersion(db: Database): number | null {
  const row = stmt(
    db,
    `SELECT sv.id FROM series_versions sv WHERE sv.state != 'superseded' ORDER BY sv.version DESC, sv.id DESC LIMIT 1`,
  ).get();
  return row === undefined ? null : int(raw(row, 'series_versions'), 'id');
}

/** A version with its series' title and author. */
export interface VersionOfSeries extends VersionRow {
  title: string;
  author_name: string | null;
  author_addr: string;
}

export function versionWithSeries(db: Database, id: number): VersionOfSeries | null {
  const row = stmt(
    db,
    `SELECT sv.*, s.title, s.author_name, s.author_addr
       FROM series_versions sv JOIN series s ON s.id = sv.series_id WHERE sv.id = ?`,
  ).get(id);
  if (row === undefined) return null;
  const r = raw(row, 'series_versions');
  return {
    ...toVersionRow(r),
    title: text(r, 'title'),
    author_name: textOrNull(r, 'author_name'),
    author_addr: text(r, 'author_addr'),
  };
}

/** The list row's view of a series' versions: the newest number, how many, the newest head. */
export function versionSummary(
  db: Database,
  seriesId: number,
): { latest: number | null; n: number; head: string | null } {
  const r = raw(
    stmt(
      db,
      `SELECT max(version) AS latest, count(*) AS n,
         (SELECT head_message_id FROM series_versions WHERE series_id = @id ORDER BY version DESC, id DESC LIMIT 1) AS head
       FROM series_versions WHERE series_id = @id`,
    ).get({ id: seriesId }),
    'series_versions',
  );
  return { latest: intOrNull(r, 'latest'), n: int(r, 'n'), head: textOrNull(r, 'head') };
}
