import type { ApplyResult } from '../contract.ts';
import type { PatchMail } from '../series/types.ts';
import { gitRaw, gitTry, isSafeRev, resolveCommit, type GitCallOptions } from './run.ts';
import { cleanWorktree, undoInterruptedGit } from './worktrees.ts';

export interface ApplyOptions {
  /** Patches of a Based-on series, applied first; their failure is reported as such. */
  prerequisites?: PatchMail[];
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ApplyOutcome {
  result: ApplyResult;
  /** One sha per applied patch of the series itself, in order (the per-patch build mode). */
  commits: string[];
  /** The tree the series went onto: the base, or the base plus the Based-on prerequisites. The baseline build belongs here. */
  baseTip: string;
}

/**
 * Applies a series with `git am -3`, one `am` per patch: each patch's outcome is then
 * known by number (m/n, the subject) without parsing am's progress output, and the sha
 * of every step is at hand. The mail bytes go to git on stdin, never on a command line.
 * Authors and dates come from the mails; the committer is always listci.
 * On failure the worktree is cleaned before returning, so the next job starts clean.
 */
export async function applySeries(
  worktreePath: string,
  baseCommit: string,
  patches: PatchMail[],
  opts: ApplyOptions = {},
): Promise<ApplyOutcome> {
  const call: GitCallOptions = { signal: opts.signal, timeoutMs: opts.timeoutMs };
  if (!isSafeRev(baseCommit))
    throw new Error(`base "${baseCommit}" is not a commit name listci will pass to git`);
  // checkout --force discards changes to tracked files; clean removes the rest.
  await undoInterruptedGit(worktreePath, call);
  await gitRaw(worktreePath, ['checkout', '--quiet', '--force', '--detach', baseCommit], call);
  await gitRaw(worktreePath, ['clean', '-ffdxq'], call);
  const base = (await resolveCommit(worktreePath, 'HEAD', call))!;

  const total = patches.length;
  let head = base;
  for (const p of opts.prerequisites ?? []) {
    const r = await amOne(worktreePath, p, head, call);
    if (r.failure) {
      const f = r.failure;
      const error = `the Based-on series does not apply: its patch ${p.number}/${p.total} "${p.subject}": ${f.error}`;
      const result = { ok: false, applied: 0, total, failedPatch: null, skipped: total };
      return {
        result: { ...result, error, conflicts: f.conflicts, mangled: f.mangled },
        commits: [],
        baseTip: base,
      };
    }
    head = r.head;
  }
  const baseTip = head;

  const commits: string[] = [];
  for (const [i, p] of patches.entries()) {
    const r = await amOne(worktreePath, p, head, call);
    if (r.failure) {
      const failedPatch = { number: p.number, total: p.total, subject: p.subject, messageId: p.messageId };
      const result = { ok: false, applied: i, total, failedPatch, skipped: total - i - 1 };
      return { result: { ...result, ...r.failure }, commits, baseTip };
    }
    head = r.head;
    commits.push(head);
  }
  const result = {
    ok: true,
    applied: total,
    total,
    failedPatch: null,
    error: null,
    conflicts: [],
    mangled: null,
    skipped: 0,
  };
  return { result, commits, baseTip };
}

interface AmFailure {
  error: string;
  conflicts: string[];
  mangled: string | null;
}

/** One `git am -3` on top of `head`; the new HEAD, or what went wrong with the worktree already cleaned. */
async function amOne(
  wt: string,
  p: PatchMail,
  head: string,
  call: GitCallOptions,
): Promise<{ head: string; failure?: undefined } | { head: string; failure: AmFailure }> {
  const r = await gitTry(wt, ['am', '-3'], { ...call, input: p.raw });
  const after = r.ok ? await resolveCommit(wt, 'HEAD', call) : null;
  if (r.ok && after && after !== head) return { head: after };
  const message = r.ok ? 'git am applied nothing (is this mail a patch?)' : r.err;
  const conflicts = await conflictedFiles(wt, message, call);
  await undoInterruptedGit(wt, call);
  await cleanWorktree(wt, call);
  return { head, failure: { error: trimGitMessage(message), conflicts, mangled: mangledReason(p, message) } };
}

async function conflictedFiles(wt: string, message: string, call: GitCallOptions): Promise<string[]> {
  const files = new Set<string>();
  const unmerged = await gitTry(wt, ['diff', '--name-only', '--diff-filter=U'], call);
  for (const f of unmerged.out.split('\n')) if (f.trim()) files.add(f.trim());
  const patterns = [
    /^CONFLICT \([^)]*\): Merge conflict in (.+)$/gm,
    /^error: patch failed: (.+?):\d+$/gm,
    /^error: (.+?): does not exist in index$/gm,
    /^error: (.+?): already exists in (?:index|working directory)$/gm,
    /^CONFLICT \(modify\/delete\): (\S+) deleted/gm,
    // -3 had no preimage blob to merge with: the patch was made against a tree we do not have.
    /^error: sha1 information is lacking or useless \((.+?)\)\.$/gm,
  ];
  for (const re of patterns) for (const m of message.matchAll(re)) files.add(m[1]!);
  return [...files].sort();
}

/**
 * The mail stage knows when a client re-flowed a patch; git knows when the result is not a
 * patch any more ("corrupt patch at line 12": a wrapped line that starts with neither
 * ' ', '+' nor '-'). Either way the author should resend with git send-email, not rebase.
 */
function mangledReason(p: PatchMail, gitMessage: string): string | null {
  const corrupt = /corrupt patch at line (\d+)/.exec(gitMessage);
  const flowed = /Patch sent with format=flowed/.test(gitMessage);
  const gitSays = corrupt
    ? `git: corrupt patch at line ${corrupt[1]}${flowed ? ', mail sent with format=flowed' : ''}`
    : flowed
      ? 'git: mail sent with format=flowed, trailing spaces may be lost'
      : null;
  if (p.mangled) return gitSays ? `${p.mangled} (${gitSays})` : p.mangled;
  if (flowed) return `the mail client sent the patch with format=flowed, which damages it (${gitSays})`;
  if (corrupt) return `the mail client probably wrapped long lines (${gitSays})`;
  return null;
}

/** git's own words without the how-to-continue advice, which is about a terminal listci does not have. */
export function trimGitMessage(message: string, maxLines = 20): string {
  const lines = message
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(
      (l) =>
        l &&
        !/^hint:/.test(l) &&
        !/^(When you have resolved|If you prefer to skip|To restore the original branch|Use 'git am --show-current-patch)/.test(
          l,
        ),
    );
  const kept = lines.slice(0, maxLines);
  if (lines.length > maxLines) kept.push(`... (${lines.length - maxLines} more lines)`);
  return kept.join('\n').slice(0, 4000);
}
