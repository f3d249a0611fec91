import type { Database } from 'better-sqlite3';
import { now } from '../db/open.ts';
import { queueRun, queuedRunsOfSupersededVersions, supersedeRun } from '../db/runs.ts';
import { firstMailReceivedAt, versionById } from '../db/versions.ts';
import { readyVersions } from '../series/ready.ts';

// Between the series stage and the check worker: a version that is ready (complete, or
// incomplete past the wait) gets one run and one job. Runs are created here, not by the
// worker, so the per-stage timestamps start when the mail came in. Whether a RESEND's
// earlier result is reused is the worker's decision.

export interface Scheduled {
  runId: number;
  versionId: number;
}

export function scheduleReady(db: Database, at: Date, incompleteWaitMinutes: number): Scheduled[] {
  return readyVersions(db, at, incompleteWaitMinutes).map((v) =>
    db.transaction((): Scheduled => {
      const completeAt = versionById(db, v.versionId)?.complete_at ?? null;
      const ts = now();
      const runId = queueRun(db, {
        versionId: v.versionId,
        mailReceivedAt: firstMailReceivedAt(db, v.versionId),
        // Checked incomplete after the wait: the wait ends now, not when the series completes.
        seriesCompleteAt: v.complete ? (completeAt ?? ts) : ts,
        runAfter: at,
      });
      return { runId, versionId: v.versionId };
    })(),
  );
}

/** A new version arrived: queued checks of the versions it superseded are dropped. */
export function cancelSuperseded(db: Database): number[] {
  return queuedRunsOfSupersededVersions(db).filter((runId) => supersedeRun(db, runId));
}
