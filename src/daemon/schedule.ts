import type { Database } from 'better-sqlite3';
import { now } from '../db/open.ts';
import { stmt } from '../db/stmt.ts';
import { readyVersions } from '../series/ready.ts';
import { cancel, enqueue } from './queue.ts';

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
      // When listci first saw any mail of this version: the start of the contributor's wait.
      const times = stmt(
        db,
        `SELECT coalesce(
                  (SELECT min(m.received_at) FROM messages m
                    WHERE m.message_id = sv.head_message_id
                       OR m.message_id IN (SELECT message_id FROM patches WHERE version_id = sv.id)),
                  sv.first_seen_at) AS received,
                sv.complete_at
           FROM series_versions sv WHERE sv.id = ?`,
      ).get(v.versionId) as { received: string; complete_at: string | null };
      const ts = now();
      const run = stmt(
        db,
        `INSERT INTO runs (version_id, origin, state, mail_received_at, series_complete_at, queued_at)
         VALUES (?, 'mail', 'queued', ?, ?, ?)`,
      ).run(v.versionId, times.received, v.complete ? (times.complete_at ?? ts) : ts, ts);
      const runId = Number(run.lastInsertRowid);
      enqueue(db, 'check', runId, at);
      return { runId, versionId: v.versionId };
    })(),
  );
}

/** A new version arrived: queued checks of the versions it superseded are dropped. */
export function cancelSuperseded(db: Database): number[] {
  const runs = stmt(
    db,
    `SELECT r.id FROM runs r JOIN series_versions sv ON sv.id = r.version_id
      WHERE r.state = 'queued' AND sv.state = 'superseded'`,
  ).all() as { id: number }[];
  const cancelled: number[] = [];
  for (const r of runs) {
    if (!cancel(db, 'check', r.id)) continue;
    stmt(
      db,
      `UPDATE runs SET state = 'cancelled', finished_at = ?, summary = 'superseded by a newer version' WHERE id = ?`,
    ).run(now(), r.id);
    cancelled.push(r.id);
  }
  return cancelled;
}
