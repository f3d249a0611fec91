// The rules that decide which series version a patch or cover letter belongs to, and
// which series (lineage of versions) a new version continues. Each rule is one small
// query; src/series/group.ts calls them in order. Thread headers are trusted first,
// subject markers only when the thread says nothing.
import type { Database } from 'better-sqlite3';
import { stmt } from '../db/stmt.ts';

/** A patch or cover letter to place, as plain data. */
export interface GroupInput {
  messageId: string;
  kind: 'patch' | 'cover';
  subject: string;
  title: string; // normalised subject
  version: number;
  number: number; // 0 for a cover letter, 1 for a lone patch
  total: number;
  resend: boolean;
  tags: string[];
  authorName: string | null;
  authorAddr: string;
  date: string | null; // ISO, from the Date header
  inReplyTo: string | null;
  references: string[]; // oldest first
}

export interface VersionRow {
  id: number;
  series_id: number;
  version: number;
  total: number;
  resend: number;
  state: string;
  head_message_id: string;
  cover_message_id: string | null;
}

export interface Match {
  version: VersionRow;
  rule: string;
}

const VERSION_COLS =
  'sv.id, sv.series_id, sv.version, sv.total, sv.resend, sv.state, sv.head_message_id, sv.cover_message_id';

/** The version a message already belongs to, as head or patch (a cover letter is always its version's head). */
export function versionOfMessage(db: Database, messageId: string): VersionRow | null {
  const row = stmt(
    db,
    `SELECT ${VERSION_COLS} FROM series_versions sv
       WHERE sv.head_message_id = ?
       UNION ALL
       SELECT ${VERSION_COLS} FROM patches p JOIN series_versions sv ON sv.id = p.version_id WHERE p.message_id = ?
       LIMIT 1`,
  ).get(messageId, messageId) as VersionRow | undefined;
  return row ?? null;
}

export function sameShape(v: VersionRow, m: GroupInput): boolean {
  return v.version === m.version && v.total === m.total && (v.resend === 1) === m.resend;
}

/** The slot (cover, or patch number) is still empty in this version. */
export function slotFree(db: Database, v: VersionRow, m: GroupInput): boolean {
  if (m.kind === 'cover') return v.cover_message_id === null;
  return !stmt(db, 'SELECT 1 FROM patches WHERE version_id = ? AND number = ?').get(v.id, m.number);
}

/** Thread ancestors, closest first: In-Reply-To, then References newest to oldest. */
export function ancestors(m: GroupInput): string[] {
  const ids = [m.inReplyTo, ...[...m.references].reverse()].filter((x): x is string => !!x);
  return ids.filter((id, i) => ids.indexOf(id) === i && id !== m.messageId);
}

/**
 * Joins the version of the closest thread ancestor with the same version and total.
 *
 *   [PATCH 0/3] cover            <- ancestor, version found
 *     [PATCH 1/3]                <- joins the cover's version
 *     [PATCH 2/3]
 *
 * An ancestor from another version (v2 sent in reply to v1) is not joined here; see
 * lineageByReferences.
 */
export function byReferences(db: Database, m: GroupInput): Match | null {
  for (const ref of ancestors(m)) {
    const v = versionOfMessage(db, ref);
    // A superseded version still takes its own late patches: they are part of it.
    if (v && sameShape(v, m) && slotFree(db, v, m))
      return { version: v, rule: `thread: in reply to <${ref}>` };
  }
  return null;
}

/**
 * Joins the version of mails that already replied to this one: the cover letter (or
 * patch 1 of a chained series) arrived after its patches.
 *
 *   [PATCH 1/2]  arrived first, In-Reply-To: <cover>
 *   [PATCH 2/2]  arrived first, In-Reply-To: <cover>
 *   [PATCH 0/2] <cover>  arrives now  <- joins their version
 */
export function byRepliesToMe(db: Database, m: GroupInput): Match | null {
  const rows = stmt(
    db,
    `SELECT p.version_id FROM messages msg JOIN patches p ON p.message_id = msg.message_id
       WHERE msg.in_reply_to = ?`,
  ).all(m.messageId) as { version_id: number }[];
  for (const r of rows) {
    const v = stmt(db, `SELECT ${VERSION_COLS} FROM series_versions sv WHERE sv.id = ?`).get(r.version_id) as
      VersionRow | undefined;
    if (v && sameShape(v, m) && slotFree(db, v, m))
      return { version: v, rule: `thread: <${m.messageId}> is replied to by the version's patches` };
  }
  return null;
}

/**
 * Without thread headers (sent with --no-thread, or threading lost by a client):
 * same author, version, total, RESEND marker and tags (RFC, for-4.19), posted within
 * the window. Tags count because an RFC and a plain series by one author in one
 * afternoon are two postings.
 *
 *   [RFC PATCH 1/2]  jane, 10:00, no In-Reply-To
 *   [RFC PATCH 2/2]  jane, 10:01, no In-Reply-To   <- joins 1/2's version
 */
export function byMarkers(db: Database, m: GroupInput, windowMinutes: number, now: string): Match | null {
  if (m.total <= 1) return null; // lone patches never pair up by markers
  const rows = stmt(
    db,
    `SELECT ${VERSION_COLS} FROM series_versions sv
       JOIN series s ON s.id = sv.series_id
       JOIN messages hm ON hm.message_id = sv.head_message_id
       WHERE s.author_addr = ? AND sv.version = ? AND sv.total = ? AND sv.resend = ? AND sv.tags = ?
         AND sv.state != 'superseded'
         AND abs(julianday(coalesce(hm.date, hm.received_at)) - julianday(?)) * 1440 <= ?
       ORDER BY sv.id DESC`,
  ).all(
    m.authorAddr,
    m.version,
    m.total,
    m.resend ? 1 : 0,
    JSON.stringify(m.tags),
    m.date ?? now,
    windowMinutes,
  ) as VersionRow[];
  const v = rows.find((r) => slotFree(db, r, m));
  return v
    ? {
        version: v,
        rule: `markers: same author, v${m.version}, ${m.total} patches within ${windowMinutes} min`,
      }
    : null;
}

/**
 * A new version sent in reply to an older one continues that series, whatever its
 * title now says.
 *
 *   [PATCH 0/3] cover v1
 *     [PATCH v2 0/3] cover v2  <- new version of the same series
 */
export function lineageByReferences(db: Database, m: GroupInput): { seriesId: number; rule: string } | null {
  for (const ref of ancestors(m)) {
    const v = versionOfMessage(db, ref);
    if (v && v.version !== m.version)
      return { seriesId: v.series_id, rule: `v${m.version} in reply to v${v.version}` };
    if (v && m.resend) return { seriesId: v.series_id, rule: `RESEND in reply to the original` };
  }
  return null;
}

/**
 * A new version or a RESEND without thread headers: same author, same normalised title.
 *
 *   [PATCH] xen/livepatch: add a verbose flag          (Monday)
 *   [PATCH RESEND] xen/livepatch: add a verbose flag   (Friday)  <- same series
 */
export function lineageByTitle(db: Database, m: GroupInput): { seriesId: number; rule: string } | null {
  const row = stmt(
    db,
    'SELECT id FROM series WHERE author_addr = ? AND title = ? ORDER BY id DESC LIMIT 1',
  ).get(m.authorAddr, m.title) as { id: number } | undefined;
  return row ? { seriesId: row.id, rule: 'same author and title' } : null;
}
