import { statfsSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { workDirFull } from './disk-space.ts';

// A series' Makefile can write until the disk is full, and a full disk fails every later check
// and the database's writes too. The build dir is watched while the build runs: past its size
// limit the build is stopped (the series' doing), and when the work dir's file system runs out
// the build is stopped too (listci's problem, retried later). Sizes count allocated blocks, so
// a sparse file that takes no room costs nothing.

export type Exceeded = { kind: 'size'; message: string } | { kind: 'disk'; message: string };

/** Allocated bytes under `dir`, symlinks not followed. */
export async function allocatedBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      const st = await lstat(p).catch(() => null);
      if (!st) continue;
      total += st.blocks * 512;
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}

export interface WatchOptions {
  maxBytes: number;
  workDir: string;
  intervalMs?: number;
  /** The longest time between two walks of the build dir. */
  walkEveryMs?: number;
  onExceeded: (e: Exceeded) => void;
}

export interface DirWatch {
  stop(): void;
  /** One more look, after the build: a write faster than the interval is still caught. */
  checkNow(): Promise<void>;
}

/** Bytes in use on the file system holding `dir`, or null when it cannot be asked. */
function usedBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return (s.blocks - s.bfree) * s.bsize;
  } catch {
    return null;
  }
}

/** Starts watching; onExceeded is called at most once. */
export function watchBuildDir(dir: string, opts: WatchOptions): DirWatch {
  let busy: Promise<void> | null = null;
  let fired = false;
  // Everything the build writes shows in its file system's usage: while that has grown by less
  // than the limit, the build dir cannot be over it, and no walk of its files (which competes
  // with the compiler for the two cores) is needed. Another process freeing space at the same
  // time hides the growth, though: the lowest usage seen is the reference, and a walk is due
  // every walkEveryMs whatever the usage says.
  let lowest = usedBytes(opts.workDir);
  let lastWalk = Date.now();
  const walkEvery = opts.walkEveryMs ?? 20_000;
  const tick = async (): Promise<void> => {
    if (fired) return;
    try {
      const full = workDirFull(opts.workDir);
      if (full) {
        fired = true;
        opts.onExceeded({ kind: 'disk', message: full });
        return;
      }
      const fsUsed = usedBytes(opts.workDir);
      if (lowest !== null && fsUsed !== null) lowest = Math.min(lowest, fsUsed);
      const grown = lowest === null || fsUsed === null || fsUsed - lowest > opts.maxBytes;
      if (!grown && Date.now() - lastWalk < walkEvery) return;
      lastWalk = Date.now();
      const used = await allocatedBytes(dir);
      if (used > opts.maxBytes && !fired) {
        fired = true;
        opts.onExceeded({
          kind: 'size',
          message: `the build wrote ${Math.round(used / 1048576)} MB into its build dir, over the limit of ${Math.round(opts.maxBytes / 1048576)} MB (build.maxBuildDirMb)`,
        });
      }
    } finally {
      busy = null;
    }
  };
  const run = (): Promise<void> => (busy ??= tick());
  const timer = setInterval(() => void run(), opts.intervalMs ?? 2000);
  return {
    stop: () => clearInterval(timer),
    checkNow: async () => {
      await busy;
      await run();
    },
  };
}
