import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { gitRaw, gitTry, type GitCallOptions } from './run.ts';
import { backdateTracked } from './changes.ts';

export interface PoolConfig {
  /** The bare mirror the worktrees belong to (they share its objects). */
  mirror: string;
  /** Where the worktrees live: <dir>/wt-0, <dir>/wt-1, ... and their lock files. */
  dir: string;
  /** repo.worktrees: never more than this many exist. */
  size: number;
  timeoutMs?: number;
  /** How often to look for a slot freed by another process (the CLI next to the daemon). */
  pollMs?: number;
}

export interface Worktree {
  path: string;
  slot: number;
  /** What recovery found and undid at acquire ("am --abort", "removed index.lock"); empty when clean. */
  recovered: string[];
  release(): void;
}

/**
 * A fixed set of detached worktrees reused across runs, so a build directory keyed to a
 * worktree stays incremental. A slot is held through a lock file carrying the holder's pid,
 * so two listci processes never share a worktree and a dead holder's slot is taken over.
 */
export class WorktreePool {
  private readonly cfg: Required<PoolConfig>;
  private readonly held = new Set<number>();
  private waiters: (() => void)[] = [];
  private initialised = false;

  constructor(cfg: PoolConfig) {
    this.cfg = {
      timeoutMs: 300_000,
      pollMs: 500,
      ...cfg,
      mirror: resolve(cfg.mirror),
      dir: resolve(cfg.dir),
    };
  }

  /** Paths of the worktrees that exist on disk now. */
  list(): string[] {
    if (!existsSync(this.cfg.dir)) return [];
    return readdirSync(this.cfg.dir)
      .filter((n) => /^wt-\d+$/.test(n))
      .map((n) => join(this.cfg.dir, n));
  }

  async acquire(signal?: AbortSignal): Promise<Worktree> {
    await this.init();
    for (;;) {
      signal?.throwIfAborted();
      for (let slot = 0; slot < this.cfg.size; slot++) {
        if (this.held.has(slot) || !this.tryLock(slot)) continue;
        this.held.add(slot);
        try {
          const path = join(this.cfg.dir, `wt-${slot}`);
          const recovered = await prepareWorktree(this.cfg.mirror, path, this.opts(signal));
          let released = false;
          return {
            path,
            slot,
            recovered,
            release: () => {
              if (released) return;
              released = true;
              this.unlock(slot);
            },
          };
        } catch (e) {
          this.unlock(slot);
          throw e;
        }
      }
      await this.waitForRelease(signal);
    }
  }

  private opts(signal?: AbortSignal): GitCallOptions {
    return { signal, timeoutMs: this.cfg.timeoutMs };
  }

  /** Once per pool: forget deleted worktrees, and remove slots beyond the configured size. */
  private async init(): Promise<void> {
    if (this.initialised) return;
    mkdirSync(this.cfg.dir, { recursive: true });
    await gitRaw(this.cfg.mirror, ['worktree', 'prune'], this.opts());
    for (const p of this.list()) {
      const slot = Number(/wt-(\d+)$/.exec(p)![1]);
      if (slot < this.cfg.size) continue;
      await gitTry(this.cfg.mirror, ['worktree', 'remove', '--force', p], this.opts());
      rmSync(p, { recursive: true, force: true });
    }
    await gitRaw(this.cfg.mirror, ['worktree', 'prune'], this.opts());
    this.initialised = true;
  }

  private lockPath(slot: number): string {
    return join(this.cfg.dir, `wt-${slot}.lock`);
  }

  private tryLock(slot: number): boolean {
    const lock = this.lockPath(slot);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(readFileSafe(lock).trim());
      if (pid === process.pid || isAlive(pid)) return false;
      // The holder died (kill -9, OOM, reboot): its slot is free; recovery cleans the tree.
      try {
        unlinkSync(lock);
      } catch {
        // another process took it over first
      }
    }
    return false;
  }

  private unlock(slot: number): void {
    this.held.delete(slot);
    try {
      unlinkSync(this.lockPath(slot));
    } catch {
      // already gone
    }
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  private waitForRelease(signal?: AbortSignal): Promise<void> {
    return new Promise((res, rej) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        res();
      };
      const onAbort = (): void => {
        clearTimeout(timer);
        rej(signal!.reason);
      };
      // Polling covers slots freed by another process, which cannot wake us directly.
      const timer = setTimeout(done, this.cfg.pollMs);
      this.waiters.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes the worktree at `path` exist and be clean, whatever the previous holder left.
 * Creates it (detached at the newest branch head) when missing or no longer registered.
 */
export async function prepareWorktree(
  mirror: string,
  path: string,
  opts: GitCallOptions = {},
): Promise<string[]> {
  if (!(await isRegisteredWorktree(path, opts))) {
    const actions: string[] = [];
    if (existsSync(path)) {
      rmSync(path, { recursive: true, force: true });
      actions.push('removed a worktree directory git no longer knew');
    }
    await gitRaw(mirror, ['worktree', 'prune'], opts);
    const start = await anyCommit(mirror, opts);
    await gitRaw(mirror, ['worktree', 'add', '--quiet', '--detach', path, start], opts);
    await backdateTracked(path, opts);
    return actions;
  }
  return recoverWorktree(path, opts);
}

async function isRegisteredWorktree(path: string, opts: GitCallOptions): Promise<boolean> {
  if (!existsSync(join(path, '.git'))) return false;
  const r = await gitTry(path, ['rev-parse', '--absolute-git-dir'], opts);
  return r.ok && existsSync(r.out.trim());
}

async function anyCommit(mirror: string, opts: GitCallOptions): Promise<string> {
  // The newest branch head (staging, on Xen): the next job most likely starts near it.
  const out = await gitRaw(
    mirror,
    ['for-each-ref', '--count=1', '--sort=-committerdate', '--format=%(objectname)', 'refs/heads/'],
    opts,
  );
  const sha = out.trim();
  if (!sha) throw new Error(`mirror ${mirror} has no branches yet: fetch it before taking a worktree`);
  return sha;
}

/**
 * Undoes whatever a killed `git am` (or a killed listci) left in a worktree:
 *
 *   <mirror>/worktrees/wt-0/rebase-apply/   half-done am   → am --abort (or removed)
 *   <mirror>/worktrees/wt-0/index.lock      killed writer  → removed
 *   conflict markers, half-applied files    → reset --hard
 *   stray files (.rej, .orig, in-tree build) → clean -ffdx
 *
 * Safe only while holding the slot: the lock file says no live listci git uses this tree.
 * Returns what it did, for the log.
 */
export async function recoverWorktree(path: string, opts: GitCallOptions = {}): Promise<string[]> {
  const actions = await undoInterruptedGit(path, opts);
  const dirty = (
    await gitTry(path, ['status', '--porcelain', '--ignored', '--untracked-files=all'], opts)
  ).out.trim();
  await cleanWorktree(path, opts);
  if (dirty) actions.push(`reset and cleaned ${dirty.split('\n').length} changed or stray path(s)`);
  return actions;
}

/**
 * The cheap half of recovery, looked up on disk without running git unless something is
 * there: stale locks and a half-done am or rebase. Leaves the files to reset/checkout.
 */
export async function undoInterruptedGit(path: string, opts: GitCallOptions = {}): Promise<string[]> {
  const actions: string[] = [];
  const gitDir = worktreeGitDir(path);
  for (const lock of ['index.lock', 'HEAD.lock']) {
    if (existsSync(join(gitDir, lock))) {
      unlinkSync(join(gitDir, lock));
      actions.push(`removed ${lock}`);
    }
  }
  const amState = join(gitDir, 'rebase-apply');
  if (existsSync(amState)) {
    const r = await gitTry(path, ['am', '--abort'], opts);
    if (existsSync(amState)) rmSync(amState, { recursive: true, force: true });
    actions.push(r.ok ? 'aborted a half-done git am' : 'removed the state of a half-done git am');
  }
  if (existsSync(join(gitDir, 'rebase-merge'))) {
    rmSync(join(gitDir, 'rebase-merge'), { recursive: true, force: true });
    actions.push('removed the state of a half-done rebase');
  }
  return actions;
}

/** <mirror>/worktrees/<name> for a worktree (its `.git` file points there), <path>/.git for a plain clone. */
export function worktreeGitDir(path: string): string {
  const dotGit = join(path, '.git');
  if (statSync(dotGit).isDirectory()) return dotGit;
  const m = /^gitdir:\s*(.+?)\s*$/m.exec(readFileSync(dotGit, 'utf8'));
  if (!m) throw new Error(`${dotGit} is neither a directory nor a "gitdir:" file`);
  return isAbsolute(m[1]!) ? m[1]! : resolve(path, m[1]!);
}

/** Back to exactly HEAD's tree: no changes, no untracked or ignored files. */
export async function cleanWorktree(path: string, opts: GitCallOptions = {}): Promise<void> {
  await gitRaw(path, ['reset', '--quiet', '--hard'], opts);
  await gitRaw(path, ['clean', '-ffdxq'], opts);
}
