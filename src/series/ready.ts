import type { Database } from 'better-sqlite3';

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
  const rows = db
    .prepare(
      `SELECT id, state, missing, reuses_version FROM series_versions sv
       WHERE (state = 'complete' OR (state = 'incomplete' AND first_seen_at <= ?))
         AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.version_id = sv.id)
       ORDER BY id`,
    )
    .all(cutoff) as { id: number; state: string; missing: string; reuses_version: number | null }[];
  return rows.map((r) => ({
    versionId: r.id,
    complete: r.state === 'complete',
    missing: JSON.parse(r.missing) as number[],
    reusesVersion: r.reuses_version,
  }));
}
