import { lstat, lutimes } from 'node:fs/promises';
import { join } from 'node:path';
import { gitRaw, type GitCallOptions } from './run.ts';

/** Paths (from the top of the tree) whose content differs between two commits; renames as delete + add. */
export async function changedPaths(
  dir: string,
  from: string,
  to: string,
  opts: GitCallOptions = {},
): Promise<string[]> {
  const out = await gitRaw(dir, ['diff', '--name-only', '--no-renames', '-z', from, to, '--'], opts);
  return out.split('\0').filter((p) => p !== '');
}

/**
 * Makes every path that differs between `from` and the worktree's checkout newer than anything
 * built before now. make decides by mtime alone, and a worktree keeps the mtimes of files git
 * did not need to rewrite: a file checked out an hour ago in this slot can hold what the base
 * has now and still be older than a snapshot built since from another slot's tree, where it
 * held something else. Touching the difference is what lets a build start from a snapshot of
 * `from` and reach what a clean build of the checkout would. Returns the changed paths.
 */
export async function touchChangedSince(
  dir: string,
  from: string,
  checkout: string,
  opts: GitCallOptions & { backdateOthers?: boolean } = {},
): Promise<string[]> {
  const paths = await changedPaths(dir, from, checkout, opts);
  // Every other tracked file holds what `from` held: dating it long ago is safe, and keeps a
  // file an earlier checkout rewrote (a series touched lib.h, the next one put it back) from
  // looking newer than the snapshot and rebuilding everything. Only while no other build
  // reads this tree's mtimes against another snapshot (build.parallel 1).
  if (opts.backdateOthers) await backdateTracked(dir, opts, new Set(paths));
  const now = new Date();
  for (const p of paths) {
    const at = join(dir, p);
    // A deleted path is not there to touch: make sees its absence.
    if (await lstat(at).catch(() => null)) await lutimes(at, now, now);
  }
  return paths;
}

/** Older than any snapshot: 2000-01-01. */
const LONG_AGO = new Date('2000-01-01T00:00:00Z');

/**
 * Dates every tracked file of a new worktree long ago. `git worktree add` writes each file now,
 * so every snapshot looks older than its whole tree and the first build in a new slot would
 * recompile everything. Safe because touchChangedSince still makes newer whatever differs from
 * the snapshot a build starts from; only while no build uses the tree (its creation).
 */
export async function backdateTracked(
  dir: string,
  opts: GitCallOptions = {},
  except: Set<string> = new Set(),
): Promise<number> {
  const out = await gitRaw(dir, ['ls-files', '-z'], opts);
  let n = 0;
  for (const p of out.split('\0')) {
    if (p === '' || except.has(p)) continue;
    const at = join(dir, p);
    // Already dated so: touching it again would change its ctime and make git re-hash it.
    const st = await lstat(at).catch(() => null);
    if (!st || st.mtimeMs === LONG_AGO.getTime()) continue;
    await lutimes(at, LONG_AGO, LONG_AGO).catch(() => undefined);
    n++;
  }
  // The index's stat data now differs from those files: refresh it so git status stays cheap.
  if (n > 0) await gitRaw(dir, ['update-index', '-q', '--refresh'], opts).catch(() => '');
  return n;
}
