import type { Database } from 'better-sqlite3';
import { now } from '../db/open.ts';
import { readyVersions } from '../series/ready.ts';
import { cancel, enqueue } from './queue.ts';

// Between the series stage and the check worker: a version that is ready (complete, or
// incomplete past the wait) gets one run and one job. Runs are created here, not by the
// worker, so the per-stage timestamps start when the mail came in.

export interface Scheduled {
  runId: number;
  versionId: number;
  /** A RESEND identical to an earlier posting: its result is reused, nothing is rebuilt. */
  reusedFrom: number | null;
}

export function scheduleReady(db: Database, at: Date, incompleteWaitMinutes: number): Scheduled[] {
  const out: Scheduled[] = [];
  for (const v of readyVersions(db, at, incompleteWaitMinutes)) {
    const created = db.transaction((): Scheduled => {
      const times = db
        .prepare(
          `SELECT sv.first_seen_at, sv.complete_at,
                  (SELECT min(m.received_at) FROM messages m JOIN patches p ON p.message_id = m.message_id
                    WHERE p.version_id = sv.id) AS first_patch_at,
                  (SELECT m.received_at FROM messages m WHERE m.message_id = sv.head_message_id) AS head_at
             FROM series_versions sv WHERE sv.id = ?`,
        )
        .get(v.versionId) as {
        first_seen_at: string;
        complete_at: string | null;
        first_patch_at: string | null;
        head_at: string | null;
      };
      const received =
        [times.head_at, times.first_patch_at].filter((x): x is string => !!x).sort()[0] ??
        times.first_seen_at;
      const reused = v.reusesVersion !== null ? reusableRun(db, v.reusesVersion) : null;
      const ts = now();
      const run = db
        .prepare(
          `INSERT INTO runs (version_id, origin, state, mail_received_at, series_complete_at, queued_at)
           VALUES (?, 'mail', 'queued', ?, ?, ?)`,
        )
        .run(v.versionId, received, v.complete ? (times.complete_at ?? ts) : ts, ts);
      const runId = Number(run.lastInsertRowid);
      enqueue(db, 'check', runId, at);
      return { runId, versionId: v.versionId, reusedFrom: reused };
    })();
    out.push(created);
  }
  return out;
}

/** The newest finished run of an earlier identical posting, if any. */
function reusableRun(db: Database, versionId: number): number | null {
  const row = db
    .prepare(
      `SELECT id FROM runs WHERE version_id = ? AND state = 'done' AND verdict IN ('pass', 'fail') ORDER BY id DESC LIMIT 1`,
    )
    .get(versionId) as { id: number } | undefined;
  return row?.id ?? null;
}

/** A new version arrived: queued checks of the versions it superseded are dropped. */
export function cancelSuperseded(db: Database): number[] {
  const cancelled: number[] = [];
  const runs = db
    .prepare(
      `SELECT r.id FROM runs r JOIN series_versions sv ON sv.id = r.version_id
        WHERE r.state = 'queued' AND sv.state = 'superseded'`,
    )
    .all() as { id: number }[];
  {
    for (const r of runs) {
      if (cancel(db, 'check', r.id)) {
        db.prepare(
          `UPDATE runs SET state = 'cancelled', finished_at = ?, summary = 'superseded by a newer version' WHERE id = ?`,
        ).run(now(), r.id);
        cancelled.push(r.id);
      }
    }
  }
  return cancelled;
}
