// What kind of mail is this, and why we think so. The reason is stored beside the kind
// so a maintainer asking "why was my patch not tested?" gets an answer in words.
import { isListciMail } from '../contract.ts';
import { headerValue, type ParsedMessage } from './parse.ts';
import type { SubjectTags } from './subject.ts';

export type MailKind = 'patch' | 'cover' | 'reply' | 'pull' | 'report' | 'other' | 'malformed';

export interface ClassifyLimits {
  /** series.maxPatches: a subject numbering more patches than this is not a series. */
  maxPatches: number;
}

export interface Classification {
  kind: MailKind;
  reason: string;
  /** Sent by listci itself: recorded, never answered. */
  own: boolean;
}

// osstest: "[xen-unstable test] 186543: regressions - FAIL", "[linux-linus test] 12: tolerable FAIL".
const OSSTEST_SUBJECT = /^\[[\w.+-]+ test\] \d+: /;
const PULL_BODY = /^The following changes since commit [0-9a-f]{7,40}/m;
const QUOTED_DIFF = /^> ?(diff --git |@@ -\d|--- a\/|\+\+\+ b\/)/m;

/** Rules in order; the first that matches decides. */
export function classify(msg: ParsedMessage, tags: SubjectTags, limits: ClassifyLimits): Classification {
  const own = isListciMail(msg.headers.map((h) => h[0]));
  if (msg.error) return { kind: 'malformed', reason: msg.error, own };
  if (own) return { kind: 'report', reason: "listci's own mail (X-Listci-Run header)", own };
  if (OSSTEST_SUBJECT.test(msg.subject) || /^osstest service owner/i.test(msg.fromName ?? ''))
    return { kind: 'report', reason: 'osstest flight report', own };
  if (headerValue(msg, 'auto-submitted')?.startsWith('auto-') && !hasDiff(msg.body))
    return { kind: 'report', reason: 'automated mail (Auto-Submitted header) without a patch', own };
  if (tags.reply) return { kind: 'reply', reason: 'subject starts with a reply prefix (Re:)', own };
  if (isPull(tags) || PULL_BODY.test(msg.body))
    return { kind: 'pull', reason: isPull(tags) ? 'subject says GIT PULL' : 'git request-pull text', own };
  // "[PATCH 1/5000000]": as a series it would be millions of missing patches to store and
  // to list in a reply. Nobody posts that many; whoever claims to is not grouped.
  if ((tags.total ?? 0) > limits.maxPatches)
    return {
      kind: 'malformed',
      reason: `numbered ${tags.number ?? '?'}/${tags.total}: over series.maxPatches (${limits.maxPatches}), not grouped as a series`,
      own,
    };
  if (tags.number === 0 && (tags.total ?? 0) > 0)
    return { kind: 'cover', reason: `cover letter 0/${tags.total}`, own };
  const attached = msg.patchParts.find((p) => hasDiff(p.text));
  if (hasDiff(msg.body)) return { kind: 'patch', reason: diffReason(msg.body), own };
  if (attached)
    return {
      kind: 'patch',
      reason: `patch attached as ${attached.contentType} ${attached.filename ?? ''}`.trim(),
      own,
    };
  if (QUOTED_DIFF.test(msg.body)) return { kind: 'reply', reason: 'quotes a patch (lines "> diff")', own };
  if (tags.patch) return { kind: 'other', reason: 'PATCH in the subject but no diff in the body', own };
  return { kind: 'other', reason: 'no diff, not a reply', own };
}

function isPull(tags: SubjectTags): boolean {
  const up = tags.prefixes.map((p) => p.toUpperCase());
  return up.includes('PULL') || (up.includes('GIT') && up.includes('PULL'));
}

/** An unquoted diff: "diff --git", or a "---"/"+++" pair followed by a hunk header. */
export function hasDiff(text: string): boolean {
  if (/^diff --git /m.test(text)) return true;
  return /^--- \S.*\r?\n\+\+\+ \S.*\r?\n@@ -\d/m.test(text);
}

function diffReason(body: string): string {
  return /^diff --git /m.test(body) ? 'git format-patch body (diff --git)' : 'diff in the body (---/+++/@@)';
}
