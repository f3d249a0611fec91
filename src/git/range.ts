import { parseMessage } from '../mail/parse.ts';
import type { PatchMail, SeriesToCheck } from '../series/types.ts';
import { gitRaw, isSafeRev, resolveCommit, type GitCallOptions } from './run.ts';

export interface RangeSeries {
  series: SeriesToCheck;
  /** Where A..B starts (the merge base of A and B): the base the contributor built on. */
  baseCommit: string;
}

/** The range could not be turned into patches; the message names the range and why. */
export class RangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RangeError';
  }
}

/**
 * A contributor's pre-submission check (`listci check --range origin/staging..HEAD --repo .`):
 * the commits of A..B become exactly the mails `git format-patch` would send, so what is
 * checked is what the list will receive, base-commit trailer included.
 */
export async function seriesFromRange(
  repoPath: string,
  range: string,
  opts: GitCallOptions = {},
): Promise<RangeSeries> {
  const m = /^([^.\s]+(?:\.[^.\s]+)*)\.\.([^.\s]+(?:\.[^.\s]+)*)$/.exec(range);
  if (!m || !isSafeRev(m[1]!) || !isSafeRev(m[2]!))
    throw new RangeError(`range "${range}" is not of the form A..B`);
  const [a, b] = [m[1]!, m[2]!];
  const aSha = await resolveCommit(repoPath, a, opts);
  const bSha = await resolveCommit(repoPath, b, opts);
  if (!aSha) throw new RangeError(`range ${range}: ${a} is not a commit in ${repoPath}`);
  if (!bSha) throw new RangeError(`range ${range}: ${b} is not a commit in ${repoPath}`);
  const baseCommit = (await gitRaw(repoPath, ['merge-base', aSha, bSha], opts)).trim();
  if (!baseCommit) throw new RangeError(`range ${range}: ${a} and ${b} have no common ancestor`);

  const count = Number(
    (await gitRaw(repoPath, ['rev-list', '--count', '--no-merges', `${baseCommit}..${bSha}`], opts)).trim(),
  );
  if (count === 0) throw new RangeError(`range ${range} has no commits to check`);
  const mbox = await gitRaw(
    repoPath,
    [
      'format-patch',
      '--stdout',
      '--numbered',
      '--no-signature',
      `--base=${baseCommit}`,
      `${baseCommit}..${bSha}`,
    ],
    opts,
  );
  const raws = splitFormatPatchMbox(mbox);
  const patches: PatchMail[] = [];
  let author = '';
  for (const [i, raw] of raws.entries()) {
    const parsed = parseMessage(raw);
    const subject = parsed.subject.replace(/^\[PATCH[^\]]*\]\s*/i, '');
    if (i === 0 && parsed.fromAddr)
      author = parsed.fromName ? `${parsed.fromName} <${parsed.fromAddr}>` : parsed.fromAddr;
    patches.push({ number: i + 1, total: raws.length, subject, messageId: null, raw, mangled: null });
  }
  return {
    series: {
      title: patches[0]?.subject ?? range,
      version: 1,
      author,
      tags: [],
      cover: null,
      patches,
      missing: [],
    },
    baseCommit,
  };
}

/** format-patch --stdout output → one Buffer per mail, each starting at its `From <sha> ...` line. */
export function splitFormatPatchMbox(mbox: string): Buffer[] {
  const starts: number[] = [];
  const re = /^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001$/gm;
  for (const m of mbox.matchAll(re)) starts.push(m.index);
  return starts.map((s, i) => Buffer.from(mbox.slice(s, starts[i + 1] ?? mbox.length), 'utf8'));
}
