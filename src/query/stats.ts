import type { Database } from 'better-sqlite3';
import { stmt } from '../db/stmt.ts';
import { TOOLCHAIN_VERDICT } from './sql.ts';
import type { LatencyPoint, WeekStat } from './types.ts';

/**
 * Series builds per toolchain per week (weeks start on Monday, UTC), by the run's finish
 * time. Baseline builds are not counted: they judge the tree, not the series.
 */
export function weeklyStats(db: Database, since: string): WeekStat[] {
  return stmt(
    db,
    `SELECT date(r.finished_at, '-6 days', 'weekday 1') AS week, b.toolchain,
         sum(${TOOLCHAIN_VERDICT} = 'pass') AS pass,
         sum(${TOOLCHAIN_VERDICT} = 'fail') AS fail,
         sum(${TOOLCHAIN_VERDICT} = 'error') AS error
       FROM runs r JOIN builds b ON b.run_id = r.id
       WHERE r.finished_at >= ? AND b.phase = 'series'
       GROUP BY week, b.toolchain ORDER BY week, b.toolchain`,
  ).all(since) as WeekStat[];
}

/** Time from the series' first mail to the reply in its thread, for each answered run. */
export function replyLatency(db: Database, since: string): LatencyPoint[] {
  const rows = stmt(
    db,
    `SELECT r.id AS runId, coalesce(r.reply_sent_at, rp.sent_at) AS replySentAt, r.mail_received_at AS mailAt
       FROM runs r LEFT JOIN replies rp ON rp.run_id = r.id
       WHERE r.finished_at >= ? AND r.mail_received_at IS NOT NULL
         AND coalesce(r.reply_sent_at, rp.sent_at) IS NOT NULL
       ORDER BY replySentAt`,
  ).all(since) as { runId: number; replySentAt: string; mailAt: string }[];
  return rows.map((r) => ({
    runId: r.runId,
    replySentAt: r.replySentAt,
    latencyMs: Date.parse(r.replySentAt) - Date.parse(r.mailAt),
  }));
}
