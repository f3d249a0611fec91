import type { Database } from 'better-sqlite3';
import { now } from '../db/open.ts';

// The daemon's durable job queue. A job is a row; claiming it is one UPDATE in a
// transaction, so two loops (or a restarted daemon) never run the same job twice.

export type JobKind = 'check' | 'reply';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface Job {
  id: number;
  kind: JobKind;
  ref_id: number;
  state: JobState;
  attempts: number;
  run_after: string;
  locked_at: string | null;
  last_error: string | null;
  created_at: string;
}

/** Enqueues once per (kind, ref): a second enqueue of the same work is a no-op. */
export function enqueue(db: Database, kind: JobKind, refId: number, runAfter: Date = new Date()): number {
  db.prepare(
    `INSERT INTO jobs (kind, ref_id, state, run_after, created_at) VALUES (?, ?, 'queued', ?, ?)
     ON CONFLICT(kind, ref_id) DO NOTHING`,
  ).run(kind, refId, runAfter.toISOString(), now());
  return (db.prepare('SELECT id FROM jobs WHERE kind = ? AND ref_id = ?').get(kind, refId) as { id: number })
    .id;
}

/** Takes the oldest ready job of the given kinds, or null. */
export function claim(db: Database, kinds: JobKind[], at: Date = new Date()): Job | null {
  const placeholders = kinds.map(() => '?').join(', ');
  return db
    .transaction(() => {
      const job = db
        .prepare(
          `SELECT * FROM jobs WHERE state = 'queued' AND kind IN (${placeholders}) AND run_after <= ?
         ORDER BY run_after, id LIMIT 1`,
        )
        .get(...kinds, at.toISOString()) as Job | undefined;
      if (!job) return null;
      db.prepare(
        `UPDATE jobs SET state = 'running', locked_at = ?, attempts = attempts + 1 WHERE id = ?`,
      ).run(now(), job.id);
      return { ...job, state: 'running' as const, attempts: job.attempts + 1 };
    })
    .immediate();
}

export function complete(db: Database, id: number): void {
  db.prepare(`UPDATE jobs SET state = 'done', locked_at = NULL WHERE id = ? AND state = 'running'`).run(id);
}

/** A failed attempt goes back to the queue with exponential backoff until maxAttempts. */
export function fail(
  db: Database,
  id: number,
  error: string,
  opts: { maxAttempts?: number; baseDelayMs?: number } = {},
) {
  const job = db.prepare('SELECT attempts FROM jobs WHERE id = ?').get(id) as
    { attempts: number } | undefined;
  if (!job) return;
  const max = opts.maxAttempts ?? 3;
  if (job.attempts >= max) {
    db.prepare(`UPDATE jobs SET state = 'failed', locked_at = NULL, last_error = ? WHERE id = ?`).run(
      error,
      id,
    );
    return;
  }
  const delay = (opts.baseDelayMs ?? 30_000) * 2 ** (job.attempts - 1);
  db.prepare(
    `UPDATE jobs SET state = 'queued', locked_at = NULL, last_error = ?, run_after = ? WHERE id = ?`,
  ).run(error, new Date(Date.now() + delay).toISOString(), id);
}

/** Pending work for superseded series versions is dropped, not run. */
export function cancel(db: Database, kind: JobKind, refId: number): boolean {
  return (
    db
      .prepare(
        `UPDATE jobs SET state = 'cancelled', locked_at = NULL WHERE kind = ? AND ref_id = ? AND state IN ('queued')`,
      )
      .run(kind, refId).changes === 1
  );
}

/**
 * At start-up: jobs left 'running' by a crash go back to the queue to be resumed. Their
 * attempt still counts, and one that has had maxAttempts is failed instead: a check that
 * crashes the daemon every time must end, not be retried at every start.
 */
export function recoverInterrupted(
  db: Database,
  opts: { maxAttempts?: number } = {},
): { resumed: number; failed: number } {
  const max = opts.maxAttempts ?? 3;
  return db.transaction(() => {
    const failed = db
      .prepare(
        `UPDATE jobs SET state = 'failed', locked_at = NULL,
           last_error = 'interrupted by a crash ' || attempts || ' times (the daemon stopped during the check each time)'
         WHERE state = 'running' AND attempts >= ?`,
      )
      .run(max).changes;
    const resumed = db
      .prepare(
        `UPDATE jobs SET state = 'queued', locked_at = NULL, last_error = 'interrupted (daemon stopped)' WHERE state = 'running'`,
      )
      .run().changes;
    return { resumed, failed };
  })();
}

/**
 * Failed checks whose run was never recorded: the daemon stopped between failing the job
 * and recording listci's error (or failed it in recoverInterrupted). Recording them at
 * start-up makes that pair safe against a crash in between.
 */
export function failedUnrecorded(db: Database): { runId: number; error: string }[] {
  return db
    .prepare(
      `SELECT j.ref_id AS runId, coalesce(j.last_error, 'the check failed') AS error
         FROM jobs j JOIN runs r ON r.id = j.ref_id
        WHERE j.kind = 'check' AND j.state = 'failed' AND r.state != 'done' ORDER BY j.id`,
    )
    .all() as { runId: number; error: string }[];
}

export function queueDepth(db: Database): Record<JobKind, number> {
  const rows = db
    .prepare(`SELECT kind, count(*) AS n FROM jobs WHERE state IN ('queued', 'running') GROUP BY kind`)
    .all() as {
    kind: JobKind;
    n: number;
  }[];
  const out: Record<JobKind, number> = { check: 0, reply: 0 };
  for (const r of rows) out[r.kind] = r.n;
  return out;
}
