import { statfsSync } from 'node:fs';

// A full work dir breaks a check in ways that look like the series' fault: `git am` finds
// the half-written file of its first try and says "untracked working tree files would be
// overwritten by merge", the linker fails, make stops. None of that is the series'. So
// after any failure (and before each check) the work dir's file system is asked how much
// room is left, and a check that ran out of it is listci's error: the attempt is dropped
// and the job retried later, as for any other failure of listci's own.

export class WorkDirFullError extends Error {
  override name = 'WorkDirFullError';
}

const NO_SPACE = /no space left on device|ENOSPC|disk quota exceeded|EDQUOT/i;

/** Less than this much free counts as full: a build needs more than a few pages to get anywhere. */
export function lowWaterBytes(totalBytes: number): number {
  return Math.min(64 * 1024 * 1024, Math.floor(totalBytes / 100));
}

/** Why the file system holding `dir` is full now, or null when it has room (or cannot be asked). */
export function workDirFull(dir: string): string | null {
  let s;
  try {
    s = statfsSync(dir);
  } catch {
    return null;
  }
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  if (free >= lowWaterBytes(total)) return null;
  return `the work dir ${dir} is full (${Math.round(free / 1024)} KiB free of ${Math.round(total / 1024)} KiB)`;
}

/**
 * Throws WorkDirFullError when `failure` (an error text, or null before a step) happened for
 * want of disk space: it says so, or the work dir is full now. `what` names the step.
 */
export function assertRoom(dir: string, what: string, failure: string | null = null): void {
  const said = failure ? (failure.split('\n').find((l) => NO_SPACE.test(l)) ?? null) : null;
  const full = workDirFull(dir);
  if (said || full)
    throw new WorkDirFullError(
      `${what}: no space left on device: ${[full, said].filter(Boolean).join('; ')}`,
    );
}
