import { existsSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gitRaw, gitTry, resolveCommit, type GitCallOptions } from './run.ts';

export interface MirrorConfig {
  /** Upstream: a local path (tests, a developer's clone) or an https URL. */
  url: string;
  /** The bare mirror on disk; worktrees hang off it and share its objects. */
  path: string;
  timeoutMs?: number | undefined;
}

/** Touched after every successful fetch; its mtime is the mirror's age. */
const STAMP = 'listci-fetched';
/** Commits fetched by sha (base-commit trailers) are kept under here so no gc drops them. */
const PINNED = 'refs/listci/commits/';

/**
 * Creates the bare mirror once. Branches map one to one (refs/heads/* → refs/heads/*) so the
 * mirror's `staging` is upstream's `staging`; worktrees are always detached, so a fetch never
 * collides with a checked-out branch. Returns true when it was created now.
 */
export async function ensureMirror(cfg: MirrorConfig, opts: GitCallOptions = {}): Promise<boolean> {
  const path = resolve(cfg.path);
  const call = { ...opts, timeoutMs: opts.timeoutMs ?? cfg.timeoutMs };
  if (existsSync(join(path, 'HEAD'))) {
    // repo.url changed since the mirror was made: fetch from where the config says, at once
    // (the mirror kept following the old upstream, and never saw the new one move).
    const url = (await gitTry(path, ['config', '--get', 'remote.origin.url'], call)).out.trim();
    if (url === remoteUrl(cfg.url)) return false;
    await gitRaw(path, ['config', 'remote.origin.url', remoteUrl(cfg.url)], call);
    await fetchMirror(cfg, { ...opts, maxAgeSeconds: 0 });
    return false;
  }
  mkdirSync(path, { recursive: true });
  await gitRaw(path, ['init', '--quiet', '--bare'], call);
  await gitRaw(path, ['remote', 'add', 'origin', remoteUrl(cfg.url)], call);
  await gitRaw(path, ['config', '--replace-all', 'remote.origin.fetch', '+refs/heads/*:refs/heads/*'], call);
  await gitRaw(path, ['config', '--add', 'remote.origin.fetch', '+refs/tags/*:refs/tags/*'], call);
  // Reflogs would keep every applied series reachable forever; the mirror has no use for them.
  await gitRaw(path, ['config', 'core.logAllRefUpdates', 'false'], call);
  await gitRaw(path, ['config', 'gc.auto', '0'], call);
  await fetchMirror(cfg, { ...opts, maxAgeSeconds: 0 });
  return true;
}

/** A path URL is made absolute: the mirror's cwd is not the caller's. */
function remoteUrl(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^/]+:/.test(url) ? url : resolve(url);
}

export interface FetchResult {
  fetched: boolean;
  /** Seconds since the previous successful fetch, before this one (Infinity: never). */
  ageSeconds: number;
}

/** Fetches unless the last fetch is younger than maxAgeSeconds (0: always). */
export async function fetchMirror(
  cfg: MirrorConfig,
  opts: GitCallOptions & { maxAgeSeconds?: number } = {},
): Promise<FetchResult> {
  const path = resolve(cfg.path);
  const ageSeconds = mirrorAgeSeconds(path);
  if (ageSeconds < (opts.maxAgeSeconds ?? 0)) return { fetched: false, ageSeconds };
  await gitRaw(path, ['fetch', '--quiet', '--prune', '--no-write-fetch-head', 'origin'], {
    ...opts,
    timeoutMs: opts.timeoutMs ?? cfg.timeoutMs,
  });
  touch(join(path, STAMP));
  return { fetched: true, ageSeconds };
}

export function mirrorAgeSeconds(path: string): number {
  try {
    return (Date.now() - statSync(join(path, STAMP)).mtimeMs) / 1000;
  } catch {
    return Infinity;
  }
}

function touch(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const now = new Date();
  if (existsSync(file)) utimesSync(file, now, now);
  else writeFileSync(file, '');
}

/**
 * Asks origin for one commit by sha (a base-commit trailer naming a commit no branch has yet,
 * or one only in a contributor's tree that upstream happens to have). Servers that refuse
 * unadvertised shas simply fail here; the caller reports that and falls through.
 */
export async function fetchCommit(
  cfg: MirrorConfig,
  sha: string,
  opts: GitCallOptions = {},
): Promise<boolean> {
  if (!/^[0-9a-f]{40}$/.test(sha)) return false;
  const path = resolve(cfg.path);
  const r = await gitTry(
    path,
    ['fetch', '--quiet', '--no-write-fetch-head', 'origin', `+${sha}:${PINNED}${sha}`],
    {
      ...opts,
      timeoutMs: opts.timeoutMs ?? cfg.timeoutMs,
    },
  );
  return r.ok && (await resolveCommit(path, sha, opts)) === sha;
}

/**
 * Drops objects nothing refers to any more: commits made by `git am` for series checked
 * long ago. Objects younger than `expire` stay, so an `am` running right now in a worktree
 * (whose new objects are not yet referenced) is never robbed. Also forgets worktrees whose
 * directories were deleted by hand.
 */
export async function maintainMirror(
  cfg: MirrorConfig,
  opts: GitCallOptions & { expire?: string } = {},
): Promise<void> {
  const path = resolve(cfg.path);
  const call = { ...opts, timeoutMs: opts.timeoutMs ?? cfg.timeoutMs };
  await gitRaw(path, ['worktree', 'prune'], call);
  await gitRaw(path, ['prune', `--expire=${opts.expire ?? '2.hours.ago'}`], call);
  await gitRaw(path, ['pack-refs', '--all'], call);
}
