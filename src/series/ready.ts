import type { Database } from 'better-sqlite3';
import { versionsWithoutRun } from '../db/versions.ts';

export interface ReadyVersion {
  versionId: number;
  complete: boolean;
  /** Patch numbers never seen; empty when complete. */
  missing: number[];
  /** An identical earlier posting (RESEND) whose results may be reused. */
  reusesVersion: number | null;
}

/**
 * Versions to check now: complete ones, and incomplete ones whose first mail is older
 * than the wait (checked anyway, saying what is missing). Versions with a run already,
 * and superseded ones, are left out.
 */
export function readyVersions(
  db: Database,
  now: Date | string,
  incompleteWaitMinutes: number,
): ReadyVersion[] {
  const nowMs = new Date(now).getTime();
  const cutoff = new Date(nowMs - incompleteWaitMinutes * 60_000).toISOString();
  return versionsWithoutRun(db, cutoff).map((r) => ({
    versionId: r.id,
    complete: r.state === 'complete',
    missing: JSON.parse(r.missing) as number[],
    reusesVersion: r.reuses_version,
  }));
}
