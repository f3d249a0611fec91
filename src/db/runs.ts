import type { Database } from 'better-sqlite3';
import type { CheckResult, Verdict } from '../contract.ts';
import { deleteBuildsOfRun, insertBuild, VERDICTS } from './builds.ts';
import { deleteFindingsOfRun, insertFindings } from './findings.ts';
import {
  cancel,
  checkJobOf,
  claim,
  complete,
  enqueue,
  fail,
  failForGood,
  requeueUncounted,
  type FailOptions,
  type Job,
} from './jobs.ts';
import { now } from './open.ts';
import { int, intOrNull, oneOf, oneOfOrNull, raw, text, textOrNull } from './row.ts';
import { stmt } from './stmt.ts';

// A run is one check of one series version (or of a local range, version_id NULL). Only
// this module writes `runs`, and only through the run's life:
//
//   queued ──start──> running ──finish──> done
//     │  ^              │  │  └──error──> done, verdict 'error' (listci's own failure)
//     │  └──requeue/retry┘  │
//     └──cancel / supersede──> cancelled
//
// Each transition is one transaction that moves the run's check job with it, so a crash
// never leaves a run that waits for a job that will not come. A bot error and a superseded
// run keep the stored states readers already count ('done' with verdict 'error', and
// 'cancelled' with the reason in the summary): the list, the metrics and the reuse of a
// RESEND's result all read those.

export const RUN_STATES = ['queued', 'running', 'done', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];
export const RUN_ORIGINS = ['mail', 'check'] as const;
export type RunOrigin = (typeof RUN_ORIGINS)[number];

export interface RunRow {
  id: number;
  version_id: number | null;
  origin: RunOrigin;
  state: RunState;
  verdict: Verdict | null;
  summary: string | null;
  base_commit: string | null;
  base_ref: string | null;
  base_reason: string | null;
  apply_ok: number | null;
  /** The CheckResult of src/contract.ts, as JSON. */
  result_json: string | null;
  mail_received_at: string | null;
  series_complete_at: string | null;
  queued_at: string;
  started_at: string | null;
  build_started_at: string | null;
  build_finished_at: string | null;
  finished_at: string | null;
  reply_sent_at: string | null;
}

export function toRunRow(row: unknown): RunRow {
  const r = raw(row, 'runs');
  return {
    id: int(r, 'id'),
    version_id: intOrNull(r, 'version_id'),
    origin: oneOf(r, 'origin', RUN_ORIGINS),
    state: oneOf(r, 'state', RUN_STATES),
    verdict: oneOfOrNull(r, 'verdict', VERDICTS),
    summary: textOrNull(r, 'summary'),
    base_commit: textOrNull(r, 'base_commit'),
    base_ref: textOrNull(r, 'base_ref'),
    base_reason: textOrNull(r, 'base_reason'),
    apply_ok: intOrNull(r, 'apply_ok'),
    result_json: textOrNull(r, 'result_json'),
    mail_received_at: textOrNull(r, 'mail_received_at'),
    series_complete_at: textOrNull(r, 'series_complete_at'),
    queued_at: text(r, 'queued_at'),
    started_at: textOrNull(r, 'started_at'),
    build_started_at: textOrNull(r, 'build_started_at'),
    build_finished_at: textOrNull(r, 'build_finished_at'),
    finished_at: textOrNull(r, 'finished_at'),
    reply_sent_at: textOrNull(r, 'reply_sent_at'),
  };
}

export function runById(db: Database, id: number): RunRow | null {
  const row = stmt(db, 'SELECT * FROM runs WHERE id = ?').get(id);
  return row === undefined ? null : toRunRow(row);
}

/** queued: a ready series version gets its run and its job together. */
export function queueRun(
  db: Database,
  v: { versionId: number; mailReceivedAt: string; seriesCompleteAt: string; runAfter: Date },
): number {
  return db.transaction(() => {
    const ts = now();
    const res = stmt(
      db,
      `INSERT INTO runs (version_id, origin, state, mail_received_at, series_complete_at, queued_at)
       VALUES (?, 'mail', 'queued', ?, ?, ?)`,
    ).run(v.versionId, v.mailReceivedAt, v.seriesCompleteAt, ts);
    const runId = Number(res.lastInsertRowid);
    enqueue(db, 'check', runId, v.runAfter);
    return runId;
  })();
}

/** running: the oldest ready check job is claimed and its run started, or null. */
export function startNextRun(db: Database, at: Date = new Date()): Job | null {
  return db
    .transaction(() => {
      const job = claim(db, ['check'], at);
      if (job)
        stmt(db, `UPDATE runs SET state = 'running', started_at = ? WHERE id = ?`).run(now(), job.ref_id);
      return job;
    })
    .immediate();
}

/** queued again, as it was: listci stopped the check (SIGTERM), the attempt does not count. */
export function requeueRun(db: Database, job: Job): void {
  db.transaction(() => {
    requeueUncounted(db, job.id);
    stmt(db, `UPDATE runs SET state = 'queued' WHERE id = ?`).run(job.ref_id);
  })();
}

/**
 * queued again after a failed attempt, with backoff. Returns false, changing nothing, when
 * that was the last attempt: the run is then owed its error transition.
 */
export function retryRun(
  db: Database,
  job: Job,
  error: string,
  opts: FailOptions & { maxAttempts: number },
): boolean {
  if (job.attempts >= opts.maxAttempts) return false;
  db.transaction(() => {
    fail(db, job.id, error, opts);
    stmt(db, `UPDATE runs SET state = 'queued' WHERE id = ?`).run(job.ref_id);
  })();
  return true;
}

/** When each stage happened; every field is optional, the CheckResult fills started/finished. */
export interface RunTimestamps {
  mailReceivedAt?: string | null;
  seriesCompleteAt?: string | null;
  queuedAt?: string | null;
  startedAt?: string | null;
  buildStartedAt?: string | null;
  buildFinishedAt?: string | null;
  finishedAt?: string | null;
  replySentAt?: string | null;
}

export interface RecordInput {
  result: CheckResult;
  /** series_versions.id; absent for a local `listci check --range` run. */
  versionId?: number | null;
  origin: RunOrigin;
  timestamps?: RunTimestamps;
  /** A run the daemon queued earlier (jobs.ref_id): it is completed in place instead of inserted. */
  runId?: number;
}

/** done: the check's result is recorded and its job completed. */
export function finishRun(db: Database, input: RecordInput & { runId: number }): void {
  db.transaction(() => {
    recordCheckResult(db, input);
    const job = checkJobOf(db, input.runId);
    if (job) complete(db, job.id);
  })();
}

/**
 * error: the last attempt failed, and the run is recorded as listci's error (never the
 * series'). The job fails in the same transaction: apart, a crash between the two left a
 * run that never finished and was never rescheduled.
 */
export function errorRun(db: Database, input: RecordInput & { runId: number }, error: string): void {
  db.transaction(() => {
    recordCheckResult(db, input);
    const job = checkJobOf(db, input.runId);
    if (job && job.state !== 'failed') failForGood(db, job.id, error);
  })();
}

/** The last attempt failed and there is no series to record an error for: only the job ends. */
export function abandonRun(db: Database, runId: number, error: string): void {
  const job = checkJobOf(db, runId);
  if (job && job.state !== 'failed') failForGood(db, job.id, error);
}

/** cancelled: a queued run whose job had not started; false when it had. */
export function cancelRun(db: Database, runId: number, summary: string): boolean {
  return db.transaction(() => {
    if (!cancel(db, 'check', runId)) return false;
    stmt(db, `UPDATE runs SET state = 'cancelled', finished_at = ?, summary = ? WHERE id = ?`).run(
      now(),
      summary,
      runId,
    );
    return true;
  })();
}

/** superseded: a newer version arrived before this one's check started. */
export function supersedeRun(db: Database, runId: number): boolean {
  return cancelRun(db, runId, 'superseded by a newer version');
}

/** Queued runs of versions a newer version superseded. */
export function queuedRunsOfSupersededVersions(db: Database): number[] {
  return stmt(
    db,
    `SELECT r.id FROM runs r JOIN series_versions sv ON sv.id = r.version_id
      WHERE r.state = 'queued' AND sv.state = 'superseded'`,
  )
    .all()
    .map((row) => int(raw(row, 'runs'), 'id'));
}

/** The first confirmation that the run's reply went out stands. */
export function setReplySent(db: Database, runId: number, at: string): void {
  stmt(db, 'UPDATE runs SET reply_sent_at = ? WHERE id = ? AND reply_sent_at IS NULL').run(at, runId);
}

function runColumns(input: RecordInput) {
  const { result } = input;
  const ts = input.timestamps ?? {};
  return {
    version_id: input.versionId ?? null,
    origin: input.origin,
    verdict: result.verdict,
    summary: result.summary,
    base_commit: result.base?.commit ?? null,
    base_ref: result.base?.ref ?? null,
    base_reason: result.base?.reason ?? null,
    apply_ok: result.apply ? (result.apply.ok ? 1 : 0) : null,
    result_json: JSON.stringify(result),
    mail_received_at: ts.mailReceivedAt ?? null,
    series_complete_at: ts.seriesCompleteAt ?? null,
    queued_at: ts.queuedAt ?? ts.startedAt ?? result.startedAt,
    started_at: ts.startedAt ?? result.startedAt,
    build_started_at: ts.buildStartedAt ?? null,
    build_finished_at: ts.buildFinishedAt ?? null,
    finished_at: ts.finishedAt ?? result.finishedAt,
    reply_sent_at: ts.replySentAt ?? null,
  };
}

/**
 * Writes one finished check: the run (with the whole CheckResult as JSON), one row per
 * build, one row per finding. The JSON stays the source of truth for /api/runs/:id; the
 * rows exist so that maintainers can search across runs ("who ever introduced X?").
 * One transaction: a reader never sees a run without its builds. A daemon's run goes
 * through finishRun or errorRun, which move its job too.
 */
export function recordCheckResult(db: Database, input: RecordInput): number {
  const cols = runColumns(input);
  return db.transaction((): number => {
    let runId: number;
    if (input.runId !== undefined) {
      const res = stmt(
        db,
        `UPDATE runs SET version_id = COALESCE(@version_id, version_id), origin = @origin, state = 'done',
             verdict = @verdict, summary = @summary, base_commit = @base_commit, base_ref = @base_ref,
             base_reason = @base_reason, apply_ok = @apply_ok, result_json = @result_json,
             mail_received_at = COALESCE(@mail_received_at, mail_received_at),
             series_complete_at = COALESCE(@series_complete_at, series_complete_at),
             started_at = COALESCE(started_at, @started_at),
             build_started_at = COALESCE(@build_started_at, build_started_at),
             build_finished_at = COALESCE(@build_finished_at, build_finished_at),
             finished_at = @finished_at,
             reply_sent_at = COALESCE(@reply_sent_at, reply_sent_at)
           WHERE id = @id`,
      ).run({ ...cols, id: input.runId });
      if (res.changes !== 1) throw new Error(`recordCheckResult: run ${input.runId} does not exist`);
      runId = input.runId;
      // A retried job must not double its findings.
      deleteFindingsOfRun(db, runId);
      deleteBuildsOfRun(db, runId);
    } else {
      const res = stmt(
        db,
        `INSERT INTO runs (version_id, origin, state, verdict, summary, base_commit, base_ref, base_reason,
             apply_ok, result_json, mail_received_at, series_complete_at, queued_at, started_at,
             build_started_at, build_finished_at, finished_at, reply_sent_at)
           VALUES (@version_id, @origin, 'done', @verdict, @summary, @base_commit, @base_ref, @base_reason,
             @apply_ok, @result_json, @mail_received_at, @series_complete_at, @queued_at, @started_at,
             @build_started_at, @build_finished_at, @finished_at, @reply_sent_at)`,
      ).run(cols);
      runId = Number(res.lastInsertRowid);
    }
    for (const build of input.result.builds) insertFindings(db, runId, insertBuild(db, runId, build), build);
    return runId;
  })();
}

/** The branches checks were based on since `since`: the daemon keeps their heads warm. */
export function recentBaseRefs(db: Database, since: Date): string[] {
  return stmt(
    db,
    `SELECT DISTINCT base_ref FROM runs WHERE base_ref IS NOT NULL AND finished_at >= ? ORDER BY base_ref`,
  )
    .all(since.toISOString())
    .map((row) => text(raw(row, 'runs'), 'base_ref'));
}

/**
 * A version imported from the archive's past (a backfill) is recorded as not checked, so the
 * daemon never replies to a thread weeks old; `listci check --message-id` still builds it.
 * Versions that have a run already are left alone. Returns how many were marked.
 */
export function markNotChecked(db: Database, versionIds: number[], summary: string): number {
  return db.transaction(() => {
    let n = 0;
    const ts = now();
    for (const id of versionIds) {
      const res = stmt(
        db,
        `INSERT INTO runs (version_id, origin, state, summary, queued_at, finished_at)
         SELECT ?, 'mail', 'cancelled', ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM runs WHERE version_id = ?)`,
      ).run(id, summary, ts, ts, id);
      n += res.changes;
    }
    return n;
  })();
}
