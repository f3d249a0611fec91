// The rules that decide which series version a patch or cover letter belongs to, and
// which series (lineage of versions) a new version continues. Each rule is one small
// query; src/series/group.ts calls them in order. Thread headers are trusted first,
// subject markers only when the thread says nothing. Anyone can reply to anyone's
// thread: a mail joins a posting only from that posting's sender, and a new version
// continues only its own author's series.
import type { Database } from 'better-sqlite3';
import { sentWithin } from '../db/messages.ts';
import { hasPatchNumber, patchesReplyingTo } from '../db/patches.ts';
import { seriesByAuthorAndTitle } from '../db/series.ts';
import {
  placedVersionById,
  versionOfMessage,
  versionsByMarkers,
  type PlacedVersion,
} from '../db/versions.ts';

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
  /**
   * The address names a person: false when the From is the list itself (a DMARC rewrite
   * with no Reply-To or X-Original-From to undo it) or absent.
   */
  authorKnown: boolean;
  date: string | null; // ISO, from the Date header
  inReplyTo: string | null;
  references: string[]; // oldest first
}

export interface Match {
  version: PlacedVersion;
  rule: string;
}

export { versionOfMessage };

export function sameShape(v: PlacedVersion, m: GroupInput): boolean {
  return v.version === m.version && v.total === m.total && (v.resend === 1) === m.resend;
}

/**
 * The mails of one posting come from one sender (git send-email, hg email), so a mail
 * fills a slot only in a version from its own address. Without this, anyone could
 * complete someone else's incomplete series with their own patch 4/4 and have listci
 * mail the series' author a verdict on it.
 */
export function sameSender(v: PlacedVersion, m: GroupInput): boolean {
  return v.author_addr === m.authorAddr;
}

/**
 * A new version supersedes the old one and cancels its check, so it must come from the
 * same author, compared after the list's DMARC rewrite is undone (src/mail/author.ts).
 * An address that names nobody (the list itself) is nobody's: it continues no series.
 */
export function sameAuthor(v: PlacedVersion, m: GroupInput): boolean {
  return m.authorKnown && v.author_addr === m.authorAddr;
}

/** The slot (cover, or patch number) is still empty in this version. */
export function slotFree(db: Database, v: PlacedVersion, m: GroupInput): boolean {
  if (m.kind === 'cover') return v.cover_message_id === null;
  return !hasPatchNumber(db, v.id, m.number);
}

/** Thread ancestors, closest first: In-Reply-To, then References newest to oldest. */
export function ancestors(m: GroupInput): string[] {
  const ids = [m.inReplyTo, ...[...m.references].reverse()].filter((x): x is string => !!x);
  // A Set, not indexOf: a hostile References header holds thousands of ids.
  return [...new Set(ids)].filter((id) => id !== m.messageId);
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
    if (v && sameShape(v, m) && sameSender(v, m) && slotFree(db, v, m))
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
  for (const r of patchesReplyingTo(db, m.messageId)) {
    const v = placedVersionById(db, r.versionId);
    if (v && sameShape(v, m) && sameSender(v, m) && slotFree(db, v, m))
      return { version: v, rule: `thread: <${m.messageId}> is replied to by the version's patches` };
  }
  return null;
}

/**
 * A patch that replies to a cover letter belongs to that cover's posting even when its
 * version tag, or its lack of one, disagrees: the sender edited the cover's subject by
 * hand and not the patches'. A maintainer, and patchwork, count one v3 of 4 patches.
 *
 *   [PATCH net-next v3 0/4] xen-netback: tidy up queue handling (v3)
 *     [PATCH 1/4] xen-netback: ...    In-Reply-To: <cover>   <- joins v3
 *     [PATCH 2/4] xen-netback: ...    In-Reply-To: <cover>   <- joins v3
 *
 * The cover must be the patch's parent, or be in its References with the parent a patch
 * of the same posting (--chain-reply-to). Same sender, same total, a free slot, and sent
 * within the group window of the cover: "[PATCH v2 1/4]" sent days later in reply to
 * the v1 cover is a new version (lineageByReferences), even when v1 lacks its 1/4.
 */
export function byCoverThread(db: Database, m: GroupInput, windowMinutes: number, now: string): Match | null {
  if (m.kind !== 'patch') return null;
  const parent = ancestors(m)[0];
  if (!parent) return null;
  const v = versionOfMessage(db, parent);
  const cover = v?.cover_message_id;
  if (!v || !cover || !ancestors(m).includes(cover)) return null;
  if (v.total !== m.total || !sameSender(v, m) || !slotFree(db, v, m)) return null;
  if (!sentWithin(db, cover, m.date ?? now, windowMinutes)) return null;
  const rule = sameShape(v, m)
    ? `thread: in reply to <${cover}>`
    : `thread: in reply to the v${v.version} cover letter <${cover}>, whatever the patch's own version tag says`;
  return { version: v, rule };
}

/**
 * The same posting seen the other way round: its cover letter arrives after patches
 * that reply to it and carry another version tag (or none). The cover joins their
 * version and names it (see attach in group.ts): the cover's subject is the one the
 * sender wrote for the posting.
 *
 *   [PATCH 1/4] ...   arrived first, In-Reply-To: <cover>   (a version "v1" of its own)
 *   [PATCH net-next v3 0/4] ... <cover>   arrives now       <- joins; the version is v3
 */
export function byCoverArrivingLate(
  db: Database,
  m: GroupInput,
  windowMinutes: number,
  now: string,
): Match | null {
  if (m.kind !== 'cover') return null;
  for (const r of patchesReplyingTo(db, m.messageId)) {
    const v = placedVersionById(db, r.versionId);
    if (!v || v.total !== m.total || !sameSender(v, m) || !slotFree(db, v, m)) continue;
    if (!sentWithin(db, r.messageId, m.date ?? now, windowMinutes)) continue;
    return {
      version: v,
      rule: `thread: cover letter of the patches that reply to it, which were tagged v${v.version}`,
    };
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
  // Only the address ties these mails together: the list's own address ties nobody.
  if (!m.authorKnown) return null;
  const rows = versionsByMarkers(db, { ...m, date: m.date ?? now }, windowMinutes);
  const v = rows.find((r) => slotFree(db, r, m));
  return v
    ? {
        version: v,
        rule: `markers: same author, v${m.version}, ${m.total} patches within ${windowMinutes} min`,
      }
    : null;
}

/**
 * A new version sent in reply to an older one by the same author continues that
 * series, whatever its title now says.
 *
 *   [PATCH 0/3] cover v1         jane
 *     [PATCH v2 0/3] cover v2    jane     <- new version of the same series
 *     [PATCH v9 0/1] ...         mallory  <- not: see relatedByReferences
 */
export function lineageByReferences(db: Database, m: GroupInput): { seriesId: number; rule: string } | null {
  for (const ref of ancestors(m)) {
    const v = versionOfMessage(db, ref);
    if (!v || !sameAuthor(v, m)) continue;
    if (v.version !== m.version)
      return { seriesId: v.series_id, rule: `v${m.version} in reply to v${v.version}` };
    if (m.resend) return { seriesId: v.series_id, rule: `RESEND in reply to the original` };
  }
  return null;
}

/**
 * A mail that starts a new series inside another series' thread records that series as
 * related: a "v9" sent in reply to someone else's cover letter is not their v9 (it would
 * supersede their version and cancel its check), but whoever reads either wants the other.
 *
 *   [PATCH 0/2] xen/console: resize the ring      jane
 *     [PATCH v9 0/1] xen/console: resize ...      mallory  <- own series, related to jane's
 */
export function relatedByReferences(db: Database, m: GroupInput): { seriesId: number; rule: string } | null {
  for (const ref of ancestors(m)) {
    const v = versionOfMessage(db, ref);
    if (v)
      return {
        seriesId: v.series_id,
        rule: `in the thread of series ${v.series_id} (<${ref}>) by ${sameAuthor(v, m) ? 'the same author' : 'another author'}`,
      };
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
  if (!m.authorKnown) return null;
  const id = seriesByAuthorAndTitle(db, m.authorAddr, m.title);
  return id !== null ? { seriesId: id, rule: 'same author and title' } : null;
}
