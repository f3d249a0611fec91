// Subject tags as people on xen-devel actually write them: "[PATCH v3 2/7]",
// "[XEN PATCH for-4.19 v2 1/2]", "[RFC PATCH]", "PATCH1/8", "Re: [PATCH]", several
// bracket groups, the list's own tag like "[Xen-devel]" added by older Mailman (which
// tag is the list's comes from the config: list.subjectPrefix), and Mercurial's
// patchbomb "[PATCH 1 of 2]" from the years Xen lived in hg.

export interface SubjectTags {
  /** Every bracket token other than the version and m/n, as written: ["XEN", "PATCH", "for-4.19"]. */
  prefixes: string[];
  version: number; // 1 when no vN
  number: number | null; // m of m/n; 0 for a cover letter
  total: number | null; // n of m/n
  resend: boolean;
  rfc: boolean;
  /** The subject carries a PATCH marker. */
  patch: boolean;
  /** Starts with Re:/RE:/Aw:/Fwd: etc. */
  reply: boolean;
  /** Subject without prefixes and tags, whitespace collapsed. */
  title: string;
}

// Reply and forward prefixes of common mail clients (English, German, Nordic, Dutch).
const REPLY_PREFIX = /^(re|aw|sv|antw|vs|fwd?|wg)\s*(\[\d+\])?\s*:\s*/i;
const BRACKET_GROUP = /^\[([^\]]*)\]\s*/;
// "PATCH1/8", "PATCH v2 1/8" or "PATCH 1/8" without brackets, seen from some scripts.
const BARE_PATCH = /^(PATCH(?:v\d+)?(?:\s+v\d+)?\s*\d+\/\d+)\s*[:-]?\s*/i;

/**
 * Splits tags off a subject; never throws, unknown tokens land in `prefixes`. `listPrefix`
 * is the tag the list adds ("Xen-devel", config list.subjectPrefix): it says nothing about
 * the series and is dropped, compared case-insensitively.
 */
export function parseSubject(subject: string, listPrefix: string | null = null): SubjectTags {
  const tags: SubjectTags = {
    prefixes: [],
    version: 1,
    number: null,
    total: null,
    resend: false,
    rfc: false,
    patch: false,
    reply: false,
    title: '',
  };
  const listTag = listPrefix?.toLowerCase() ?? null;
  let rest = subject.replace(/\s+/g, ' ').trim();
  for (let guard = 0; guard < 20; guard++) {
    const re = REPLY_PREFIX.exec(rest);
    if (re) {
      tags.reply = true;
      rest = rest.slice(re[0].length);
      continue;
    }
    const group = BRACKET_GROUP.exec(rest);
    if (group) {
      readTokens(group[1]!, tags, listTag);
      rest = rest.slice(group[0].length);
      continue;
    }
    const bare = BARE_PATCH.exec(rest);
    if (bare) {
      readTokens(bare[1]!, tags, listTag);
      rest = rest.slice(bare[0].length);
      continue;
    }
    break;
  }
  tags.title = rest.trim();
  return tags;
}

function readTokens(group: string, tags: SubjectTags, listTag: string | null): void {
  // "PATCHv2", "PATCH1/8": split a marker glued to its number. hg email writes
  // "[PATCH 0 of 2]", "[PATCH 1 of 2 V2]": m/n in words.
  const spaced = group.replace(/\b(PATCH)(v?\d)/gi, '$1 $2').replace(/\b(\d+) of (\d+)\b/gi, '$1/$2');
  for (const token of spaced.split(/[\s,]+/).filter(Boolean)) readToken(token, tags, listTag);
}

function readToken(token: string, tags: SubjectTags, listTag: string | null): void {
  const upper = token.toUpperCase();
  const nm = /^(\d+)\/(\d+)$/.exec(token) ?? /^(\d+)-(\d+)$/.exec(token);
  if (nm) {
    tags.number = Number(nm[1]);
    tags.total = Number(nm[2]);
    return;
  }
  const v = /^v(\d+)$/i.exec(token);
  if (v) {
    tags.version = Number(v[1]);
    return;
  }
  if (listTag !== null && token.toLowerCase() === listTag) return;
  if (upper === 'PATCH') tags.patch = true;
  if (upper === 'RESEND') tags.resend = true;
  if (upper === 'RFC') tags.rfc = true;
  tags.prefixes.push(token);
}

/** The subject without its reply and forward prefixes ("Re: AW: Fwd: [PATCH] x" → "[PATCH] x"). */
export function stripReplyPrefixes(subject: string): string {
  let rest = subject.trim();
  for (let m = REPLY_PREFIX.exec(rest); m; m = REPLY_PREFIX.exec(rest)) rest = rest.slice(m[0].length);
  return rest;
}

/** Prefixes that say something about the series (not PATCH/RESEND), lower-cased: ["rfc", "for-4.19", "xen"]. */
export function seriesTags(tags: SubjectTags): string[] {
  return tags.prefixes
    .map((p) => p.toLowerCase())
    .filter((p) => p !== 'patch' && p !== 'resend')
    .filter((p, i, all) => all.indexOf(p) === i);
}
