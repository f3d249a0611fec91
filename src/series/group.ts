// Places one patch or cover letter into a series version and keeps the version's state
// (complete, missing, superseded, reused) up to date. The order of the rules is here,
// in placeMessage; each rule lives in rules.ts with the mail shape it handles.
import type { Database } from 'better-sqlite3';
import { insertPatch, patchesOfVersion } from '../db/patches.ts';
import { insertSeries, setSeriesTitle } from '../db/series.ts';
import {
  countVersionsOfSeries,
  earlierPostings,
  insertVersion,
  setCompleteness,
  setCover,
  setHead,
  setReuses,
  supersedeOlder,
  versionById,
  type PlacedVersion,
} from '../db/versions.ts';
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
  let version: PlacedVersion;
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
  return insertSeries(db, {
    list: opts.list,
    title: m.title,
    authorName: m.authorName,
    authorAddr: m.authorAddr,
    relatedTo,
    now: opts.now,
  });
}

function createVersion(db: Database, seriesId: number, m: GroupInput, now: string): PlacedVersion {
  const id = insertVersion(db, {
    seriesId,
    version: m.version,
    total: m.total,
    resend: m.resend,
    subject: m.subject,
    headMessageId: m.messageId,
    tags: m.tags,
    firstSeenAt: now,
  });
  return {
    id,
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
function attach(db: Database, v: PlacedVersion, m: GroupInput): void {
  if (m.kind === 'cover') {
    setCover(db, v.id, m);
    // The series is named after its first cover letter, not after whichever patch came first.
    if (countVersionsOfSeries(db, v.series_id) === 1) setSeriesTitle(db, v.series_id, m.title);
    return;
  }
  insertPatch(db, {
    version_id: v.id,
    message_id: m.messageId,
    number: m.number,
    total: m.total,
    subject: m.subject,
  });
  if (versionById(db, v.id)?.cover_message_id) return;
  const first = patchesOfVersion(db, v.id)[0];
  if (first) setHead(db, v.id, first.message_id, first.subject);
}

/** Complete when patches 1..n are all there; a superseded version keeps its state. */
export function refreshCompleteness(db: Database, versionId: number, now: string): void {
  const v = versionById(db, versionId);
  if (!v) throw new Error(`series version ${versionId} does not exist`);
  const have = new Set(patchesOfVersion(db, versionId).map((r) => r.number));
  const missing: number[] = [];
  for (let n = 1; n <= v.total; n++) if (!have.has(n)) missing.push(n);
  const state = v.state === 'superseded' ? 'superseded' : missing.length === 0 ? 'complete' : 'incomplete';
  const completeAt = v.complete_at ?? (missing.length === 0 ? now : null);
  setCompleteness(db, versionId, { missing, state, completeAt });
}

/**
 * A RESEND whose patches carry the same diffs as an earlier posting of the same
 * version points at it, so its results can be reused instead of rebuilt.
 */
function markReuse(db: Database, versionId: number, digest: (messageId: string) => string | null): void {
  const v = versionById(db, versionId);
  if (!v || !v.resend || v.reuses_version !== null || v.state !== 'complete') return;
  const mine = patchDigests(db, versionId, digest);
  for (const earlier of earlierPostings(db, v)) {
    const theirs = patchDigests(db, earlier, digest);
    if (theirs.length === mine.length && theirs.every((d, i) => d !== null && d === mine[i])) {
      setReuses(db, versionId, earlier);
      return;
    }
  }
}

function patchDigests(
  db: Database,
  versionId: number,
  digest: (id: string) => string | null,
): (string | null)[] {
  return patchesOfVersion(db, versionId).map((r) => digest(r.message_id));
}
