import type { Database } from 'better-sqlite3';
import type { Verdict } from '../contract.ts';
import { VERDICTS } from './builds.ts';
import { int, intOrNull, numOrNull, oneOfOrNull, raw, text, textOrNull } from './row.ts';
import { toRunRow, type RunRow } from './runs.ts';
import { LATEST_RUN_OF_SERIES } from './sql.ts';
import { stmt } from './stmt.ts';

// The read side of `runs`: the queries whose main table is runs, for the worker, the
// query layer and the metrics. Writes are in runs.ts.

export interface RunDetailRow extends RunRow {
  series_id: number | null;
  version: number | null;
  /** When the outbox confirmed the reply, for runs recorded before runs.reply_sent_at was kept. */
  reply_row_sent_at: string | null;
}

export function runDetailRow(db: Database, id: number): RunDetailRow | null {
  const row = stmt(
    db,
    `SELECT r.*, v.series_id, v.version, rp.sent_at AS reply_row_sent_at FROM runs r
       LEFT JOIN series_versions v ON v.id = r.version_id
       LEFT JOIN replies rp ON rp.run_id = r.id
       WHERE r.id = ?`,
  ).get(id);
  if (row === undefined) return null;
  const r = raw(row, 'runs');
  return {
    ...toRunRow(r),
    series_id: intOrNull(r, 'series_id'),
    version: intOrNull(r, 'version'),
    reply_row_sent_at: textOrNull(r, 'reply_row_sent_at'),
  };
}

export function runIdsOfVersion(db: Database, versionId: number): number[] {
  return stmt(db, 'SELECT id FROM runs WHERE version_id = ? ORDER BY id')
    .all(versionId)
    .map((row) => int(raw(row, 'runs'), 'id'));
}

/** The result of the identical earlier posting a RESEND reuses, if it was checked (pass or fail). */
export function reusableResultJson(db: Database, versionId: number): string | null {
  const row = stmt(
    db,
    `SELECT r.result_json FROM series_versions sv JOIN runs r ON r.version_id = sv.reuses_version
        WHERE sv.id = ? AND r.state = 'done' AND r.verdict IN ('pass', 'fail') ORDER BY r.id DESC LIMIT 1`,
  ).get(versionId);
  return row === undefined ? null : textOrNull(raw(row, 'runs'), 'result_json');
}

export interface LatestRun {
  id: number;
  version: number;
  verdict: Verdict | null;
  summary: string | null;
  finishedAt: string | null;
}

export function latestRunOfSeries(db: Database, seriesId: number): LatestRun | null {
  const row = stmt(
    db,
    `SELECT r.id, v.version, r.verdict, r.summary, r.finished_at AS finishedAt
       FROM runs r JOIN series_versions v ON v.id = r.version_id WHERE r.id = ${LATEST_RUN_OF_SERIES.replaceAll('s.id', '@id')}`,
  ).get({ id: seriesId });
  if (row === undefined) return null;
  const r = raw(row, 'runs');
  return {
    id: int(r, 'id'),
    version: int(r, 'version'),
    verdict: oneOfOrNull(r, 'verdict', VERDICTS),
    summary: textOrNull(r, 'summary'),
    finishedAt: textOrNull(r, 'finishedAt'),
  };
}

/** Answered runs finished since `since`: when the series' first mail came and when the reply went out. */
export function answeredRuns(
  db: Database,
  since: string,
): { runId: number; replySentAt: string; mailAt: string }[] {
  return stmt(
    db,
    `SELECT r.id AS runId, coalesce(r.reply_sent_at, rp.sent_at) AS replySentAt, r.mail_received_at AS mailAt
       FROM runs r LEFT JOIN replies rp ON rp.run_id = r.id
       WHERE r.finished_at >= ? AND r.mail_received_at IS NOT NULL
         AND coalesce(r.reply_sent_at, rp.sent_at) IS NOT NULL
       ORDER BY replySentAt`,
  )
    .all(since)
    .map((row) => {
      const r = raw(row, 'runs');
      return { runId: int(r, 'runId'), replySentAt: text(r, 'replySentAt'), mailAt: text(r, 'mailAt') };
    });
}

/** Finished runs per verdict ('none' for a run recorded without one). */
export function finishedRunsByVerdict(db: Database): { verdict: string; n: number }[] {
  return stmt(
    db,
    `SELECT coalesce(verdict, 'none') AS verdict, count(*) AS n FROM runs WHERE state = 'done' GROUP BY 1`,
  )
    .all()
    .map((row) => {
      const r = raw(row, 'runs');
      return { verdict: text(r, 'verdict'), n: int(r, 'n') };
    });
}

/** Seconds from first mail to reply, as cumulative histogram counts (≤ each bound). */
export function mailToReplyHistogram(
  db: Database,
  boundsS: readonly number[],
): { counts: number[]; sumS: number; count: number } {
  const buckets = boundsS.map((b, i) => `sum(s <= ${Number(b)}) AS b${i}`).join(', ');
  const r = raw(
    stmt(
      db,
      `SELECT ${buckets}, sum(s) AS sum, count(*) AS n FROM (
         SELECT (julianday(coalesce(r.reply_sent_at, rp.sent_at)) - julianday(r.mail_received_at)) * 86400 AS s
         FROM runs r LEFT JOIN replies rp ON rp.run_id = r.id
         WHERE r.mail_received_at IS NOT NULL AND coalesce(r.reply_sent_at, rp.sent_at) IS NOT NULL)`,
    ).get(),
    'runs',
  );
  return {
    counts: boundsS.map((_, i) => numOrNull(r, `b${i}`) ?? 0),
    sumS: numOrNull(r, 'sum') ?? 0,
    count: numOrNull(r, 'n') ?? 0,
  };
}
