// Real repositories for the git tests: an upstream that looks like Xen's (staging moves,
// master lags, stable-4.19 for backports) and series posted as format-patch mails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { PatchMail, SeriesToCheck } from '../../src/series/types.ts';
import { splitFormatPatchMbox } from '../../src/git/range.ts';
import { ensureMirror, type MirrorConfig } from '../../src/git/mirror.ts';

const ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Alice Contributor',
  GIT_AUTHOR_EMAIL: 'alice@example.org',
  GIT_COMMITTER_NAME: 'Alice Contributor',
  GIT_COMMITTER_EMAIL: 'alice@example.org',
  GIT_AUTHOR_DATE: '2024-05-01T10:00:00Z',
  GIT_COMMITTER_DATE: '2024-05-01T10:00:00Z',
  LC_ALL: 'C',
};

export function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tmp(name: string): string {
  return mkdtempSync(join(tmpdir(), `listci-git-${name}-`));
}

export function rm(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** 30 numbered lines: easy to change one line and know what conflicts with what. */
export function schedC(changes: Record<number, string> = {}): string {
  const lines: string[] = [];
  for (let i = 1; i <= 30; i++) lines.push(changes[i] ?? `int sched_line_${i} = ${i};`);
  return lines.join('\n') + '\n';
}

export function commitFile(repo: string, file: string, content: string, message: string): string {
  mkdirSync(dirname(join(repo, file)), { recursive: true });
  writeFileSync(join(repo, file), content);
  sh(repo, 'add', file);
  sh(repo, 'commit', '-q', '-m', message);
  return sh(repo, 'rev-parse', 'HEAD').trim();
}

export interface Upstream {
  root: string;
  upstream: string;
  mirror: MirrorConfig;
  worktrees: string;
  /** staging when the contributor started; staging has moved on since. */
  oldStaging: string;
  staging: string;
  stable419: string;
}

/**
 *   A ── B (staging: rewrites line 10)      master = A
 *    \
 *     S (stable-4.19: rewrites line 3)
 */
export async function makeUpstream(name: string): Promise<Upstream> {
  const root = tmp(name);
  const upstream = join(root, 'xen');
  mkdirSync(upstream);
  sh(upstream, 'init', '-q', '-b', 'staging');
  const a = commitFile(upstream, 'xen/common/sched.c', schedC(), 'xen/sched: initial');
  sh(upstream, 'branch', 'master');
  sh(upstream, 'checkout', '-q', '-b', 'stable-4.19');
  const s = commitFile(
    upstream,
    'xen/common/sched.c',
    schedC({ 3: 'int sched_line_3 = 419;' }),
    'stable: 4.19 fix',
  );
  sh(upstream, 'checkout', '-q', 'staging');
  const b = commitFile(
    upstream,
    'xen/common/sched.c',
    schedC({ 10: 'int sched_line_10 = 1000;' }),
    'staging moves',
  );
  const mirror: MirrorConfig = { url: upstream, path: join(root, 'mirror.git'), timeoutMs: 30_000 };
  await ensureMirror(mirror);
  return {
    root,
    upstream,
    mirror,
    worktrees: join(root, 'worktrees'),
    oldStaging: a,
    staging: b,
    stable419: s,
  };
}

export interface PostOptions {
  /** Message-ID prefix; mails get <prefix.N@example.org>, the cover N=0. */
  id: string;
  cover?: boolean;
  /** Extra lines in the cover letter body (Based-on: ...). */
  coverLines?: string[];
  /** Pass --base=<this> to format-patch; omit for no base-commit trailer. */
  base?: string;
  subjectPrefix?: string;
  tags?: string[];
  version?: number;
}

/** `git format-patch` of the commits in `range` of a contributor's clone, as the list delivers them. */
export function post(repo: string, range: string, o: PostOptions): SeriesToCheck {
  const args = ['format-patch', '--stdout', '--numbered', `--subject-prefix=${o.subjectPrefix ?? 'PATCH'}`];
  if (o.cover) args.push('--cover-letter');
  if (o.base) args.push(`--base=${o.base}`);
  args.push(range);
  const mails = splitFormatPatchMbox(sh(repo, ...args));
  const withIds = mails.map((m, i) => {
    const n = o.cover ? i : i + 1;
    let text = m.toString('utf8').replace(/^(Subject: )/m, `Message-ID: <${o.id}.${n}@example.org>\n$1`);
    if (n === 0) text = text.replace('*** BLURB HERE ***', (o.coverLines ?? []).join('\n'));
    return Buffer.from(text);
  });
  const coverRaw = o.cover ? withIds.shift()! : null;
  const total = withIds.length;
  const patches: PatchMail[] = withIds.map((raw, i) => ({
    number: i + 1,
    total,
    subject: /^Subject: \[[^\]]*\] (.*)$/m.exec(raw.toString('utf8'))![1]!,
    messageId: `${o.id}.${i + 1}@example.org`,
    raw,
    mangled: null,
  }));
  return {
    title: patches[0]!.subject,
    version: o.version ?? 1,
    author: 'Alice Contributor <alice@example.org>',
    tags: o.tags ?? [],
    cover: coverRaw ? { messageId: `${o.id}.0@example.org`, subject: 'cover', raw: coverRaw } : null,
    patches,
    missing: [],
  };
}

/** A contributor's clone of upstream at `at`, detached. */
export function contributorClone(up: Upstream, name: string, at: string): string {
  const dir = join(up.root, name);
  execFileSync('git', ['clone', '-q', up.upstream, dir], { env: ENV });
  sh(dir, 'checkout', '-q', '--detach', at);
  return dir;
}

export function status(worktree: string): string {
  return sh(worktree, 'status', '--porcelain', '--ignored', '--untracked-files=all').trim();
}

export const REPO_CFG = {
  defaultBranch: 'staging',
  fallbackBranches: ['master'],
  branchMap: { '^for-(4\\.\\d+)$': 'stable-$1' },
};
