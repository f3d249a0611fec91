// Places one patch or cover letter into a series version and keeps the version's state
// (complete, missing, superseded, reused) up to date. The order of the rules is here,
// in placeMessage; each rule lives in rules.ts with the mail shape it handles.
import type { Database } from 'better-sqlite3';
import { stmt } from '../db/stmt.ts';
import {
  byCoverArrivingLate,
  byCoverThread,
  byMarkers,
  byReferences,
  byRepliesToMe,
  lineageByReferences,
  lineageByTitle,
  relatedByReferences,
  versionOfMessage,
  type GroupInput,
  type Match,
  type VersionRow,
} from './rules.ts';

export type { GroupInput } from './rules.ts';

export interface GroupOptions {
  list: string;
  groupWindowMinutes: number;
  now: string; // ISO
  /** Digest of the diff a patch mail carries, to tell an identical RESEND; null when unknown. */
  patchDigest: (messageId: string) => string | null;
}

export interface GroupResult {
  versionId: number;
  seriesId: number;
  /** Which rule placed the mail, in words. */
  rule: string;
  created: boolean;
  /** Versions this mail made obsolete: the daemon cancels their pending work. */
  superseded: number[];
}

/** Idempotent: a mail already placed returns its version and changes nothing. */
export function placeMessage(db: Database, m: GroupInput, opts: GroupOptions): GroupResult {
  const already = versionOfMessage(db, m.messageId);
  if (already) {
    return {
      versionId: already.id,
      seriesId: already.series_id,
      rule: 'already placed',
      created: false,
      superseded: [],
    };
  }
  const windowMin = opts.groupWindowMinutes;
  // The cover a patch replies to comes before any farther ancestor of the same shape: an
  // unversioned 2/2 under a v2 cover sent in reply to v1 must not fill v1's missing 2/2.
  const match: Match | null =
    byCoverThread(db, m, windowMin, opts.now) ??
    byReferences(db, m) ??
    byRepliesToMe(db, m) ??
    byCoverArrivingLate(db, m, windowMin, opts.now) ??
    byMarkers(db, m, windowMin, opts.now);
  let version: VersionRow;
  let rule: string;
  let created = false;
  if (match) {
    version = match.version;
    rule = match.rule;
  } else {
    const lineage = lineageByReferences(db, m) ?? lineageByTitle(db, m);
    const related = lineage ? null : relatedByReferences(db, m);
    const seriesId = lineage?.seriesId ?? createSeries(db, m, opts, related?.seriesId ?? null);
    version = createVersion(db, seriesId, m, opts.now);
    rule = lineage ? `new version: ${lineage.rule}` : related ? `new series, ${related.rule}` : 'new series';
    created = true;
  }
  attach(db, version, m);
  refreshCompleteness(db, version.id, opts.now);
  const superseded = supersedeOlder(db, version.series_id);
  markReuse(db, version.id, opts.patchDigest);
  return { versionId: version.id, seriesId: version.series_id, rule, created, superseded };
}

function createSeries(db: Database, m: GroupInput, opts: GroupOptions, relatedTo: number | null): number {
  const res = stmt(
    db,
    `INSERT INTO series (list, title, author_name, author_addr, related_to, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(opts.list, m.title, m.authorName, m.authorAddr, relatedTo, opts.now, opts.now);
  return Number(res.lastInsertRowid);
}

function createVersion(db: Database, seriesId: number, m: GroupInput, now: string): VersionRow {
  const res = stmt(
    db,
    `INSERT INTO series_versions (series_id, version, total, resend, subject, head_message_id, tags, first_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(seriesId, m.version, m.total, m.resend ? 1 : 0, m.subject, m.messageId, JSON.stringify(m.tags), now);
  return {
    id: Number(res.lastInsertRowid),
    series_id: seriesId,
    version: m.version,
    total: m.total,
    resend: m.resend ? 1 : 0,
    state: 'incomplete',
    head_message_id: m.messageId,
    cover_message_id: null,
    // The lineage rules continue only the author's own series.
    author_addr: m.authorAddr,
  };
}

/**
 * The cover letter heads its version and names it (version, RESEND, tags): when its
 * patches came first tagged otherwise, the cover's subject is the one the sender meant.
 * Without a cover, the lowest-numbered patch heads.
 */
function attach(db: Database, v: VersionRow, m: GroupInput): void {
  if (m.kind === 'cover') {
    stmt(
      db,
      `UPDATE series_versions SET cover_message_id = ?, head_message_id = ?, subject = ?, tags = ?,
         version = ?, resend = ? WHERE id = ?`,
    ).run(m.messageId, m.messageId, m.subject, JSON.stringify(m.tags), m.version, m.resend ? 1 : 0, v.id);
    // The series is named after its first cover letter, not after whichever patch came first.
    const versions = stmt(db, 'SELECT count(*) AS n FROM series_versions WHERE series_id = ?').get(
      v.series_id,
    ) as {
      n: number;
    };
    if (versions.n === 1) stmt(db, 'UPDATE series SET title = ? WHERE id = ?').run(m.title, v.series_id);
    return;
  }
  stmt(
    db,
    `INSERT INTO patches (version_id, message_id, number, total, subject) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  ).run(v.id, m.messageId, m.number, m.total, m.subject);
  const cur = stmt(db, 'SELECT cover_message_id FROM series_versions WHERE id = ?').get(v.id) as {
    cover_message_id: string | null;
  };
  if (cur.cover_message_id) return;
  const first = stmt(
    db,
    'SELECT message_id, subject FROM patches WHERE version_id = ? ORDER BY number LIMIT 1',
  ).get(v.id) as { message_id: string; subject: string };
  stmt(db, 'UPDATE series_versions SET head_message_id = ?, subject = ? WHERE id = ?').run(
    first.message_id,
    first.subject,
    v.id,
  );
}

/** Complete when patches 1..n are all there; a superseded version keeps its state. */
export function refreshCompleteness(db: Database, versionId: number, now: string): void {
  const v = stmt(db, 'SELECT total, state, complete_at FROM series_versions WHERE id = ?').get(versionId) as {
    total: number;
    state: string;
    complete_at: string | null;
  };
  const have = new Set(
    (stmt(db, 'SELECT number FROM patches WHERE version_id = ?').all(versionId) as { number: number }[]).map(
      (r) => r.number,
    ),
  );
  const missing: number[] = [];
  for (let n = 1; n <= v.total; n++) if (!have.has(n)) missing.push(n);
  const state = v.state === 'superseded' ? 'superseded' : missing.length === 0 ? 'complete' : 'incomplete';
  const completeAt = v.complete_at ?? (missing.length === 0 ? now : null);
  stmt(db, 'UPDATE series_versions SET missing = ?, state = ?, complete_at = ? WHERE id = ?').run(
    JSON.stringify(missing),
    state,
    completeAt,
    versionId,
  );
}

/**
 * Every version of a series older than its newest version number is superseded by the
 * newest. A RESEND carries the same number and supersedes nothing.
 */
function supersedeOlder(db: Database, seriesId: number): number[] {
  const newest = stmt(
    db,
    'SELECT id, version FROM series_versions WHERE series_id = ? ORDER BY version DESC, id ASC LIMIT 1',
  ).get(seriesId) as { id: number; version: number };
  const rows = stmt(
    db,
    `UPDATE series_versions SET state = 'superseded', superseded_by = ?
       WHERE series_id = ? AND version < ? AND state != 'superseded' RETURNING id`,
  ).all(newest.id, seriesId, newest.version) as { id: number }[];
  return rows.map((r) => r.id);
}

/**
 * A RESEND whose patches carry the same diffs as an earlier posting of the same
 * version points at it, so its results can be reused instead of rebuilt.
 */
function markReuse(db: Database, versionId: number, digest: (messageId: string) => string | null): void {
  const v = stmt(
    db,
    'SELECT series_id, version, total, resend, state, reuses_version FROM series_versions WHERE id = ?',
  ).get(versionId) as {
    series_id: number;
    version: number;
    total: number;
    resend: number;
    state: string;
    reuses_version: number | null;
  };
  if (!v.resend || v.reuses_version !== null || v.state !== 'complete') return;
  const mine = patchDigests(db, versionId, digest);
  const earlier = stmt(
    db,
    `SELECT id FROM series_versions WHERE series_id = ? AND version = ? AND total = ? AND id < ?
       ORDER BY id DESC`,
  ).all(v.series_id, v.version, v.total, versionId) as { id: number }[];
  for (const e of earlier) {
    const theirs = patchDigests(db, e.id, digest);
    if (theirs.length === mine.length && theirs.every((d, i) => d !== null && d === mine[i])) {
      stmt(db, 'UPDATE series_versions SET reuses_version = ? WHERE id = ?').run(e.id, versionId);
      return;
    }
  }
}

function patchDigests(
  db: Database,
  versionId: number,
  digest: (id: string) => string | null,
): (string | null)[] {
  const rows = stmt(db, 'SELECT message_id FROM patches WHERE version_id = ? ORDER BY number').all(
    versionId,
  ) as {
    message_id: string;
  }[];
  return rows.map((r) => digest(r.message_id));
}
