import type { Database } from 'better-sqlite3';
import { weeklyBuildCounts } from '../db/builds.ts';
import { answeredRuns } from '../db/run-reads.ts';
import type { LatencyPoint, WeekStat } from './types.ts';

/**
 * Series builds per toolchain per week (weeks start on Monday, UTC), by the run's finish
 * time. Baseline builds are not counted: they judge the tree, not the series.
 */
export function weeklyStats(db: Database, since: string): WeekStat[] {
  return weeklyBuildCounts(db, since);
}

/** Time from the series' first mail to the reply in its thread, for each answered run. */
export function replyLatency(db: Database, since: string): LatencyPoint[] {
  return answeredRuns(db, since).map((r) => ({
    runId: r.runId,
    replySentAt: r.replySentAt,
    latencyMs: Date.parse(r.replySentAt) - Date.parse(r.mailAt),
  }));
}
