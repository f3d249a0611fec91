import type { Database } from 'better-sqlite3';
import type { BuildReport, BuildStatus, Verdict } from '../contract.ts';
import { flag, int, intOrNull, numOrNull, oneOf, oneOfOrNull, raw, text, textOrNull } from './row.ts';
import { TOOLCHAIN_VERDICT } from './sql.ts';
import { stmt } from './stmt.ts';

// One toolchain in one run: the baseline build of the base, or the build with the series.

export const BUILD_PHASES = ['baseline', 'series'] as const;
export type BuildPhase = (typeof BUILD_PHASES)[number];
export const BUILD_STATUSES = [
  'pass',
  'fail',
  'error',
  'timeout',
  'skipped',
] as const satisfies readonly BuildStatus[];
export const VERDICTS = ['pass', 'fail', 'error'] as const satisfies readonly Verdict[];

export interface BuildDbRow {
  id: number;
  run_id: number;
  toolchain: string;
  phase: BuildPhase;
  status: BuildStatus;
  /** The toolchain's judgement of the series; null for baselines and rows before migration 0003. */
  verdict: Verdict | null;
  cached: boolean;
  duration_ms: number | null;
  bot_error: string | null;
  log_path: string | null;
}

export function toBuildRow(row: unknown): BuildDbRow {
  const r = raw(row, 'builds');
  return {
    id: int(r, 'id'),
    run_id: int(r, 'run_id'),
    toolchain: text(r, 'toolchain'),
    phase: oneOf(r, 'phase', BUILD_PHASES),
    status: oneOf(r, 'status', BUILD_STATUSES),
    verdict: oneOfOrNull(r, 'verdict', VERDICTS),
    cached: flag(r, 'cached'),
    duration_ms: intOrNull(r, 'duration_ms'),
    bot_error: textOrNull(r, 'bot_error'),
    log_path: textOrNull(r, 'log_path'),
  };
}

export function insertBuild(db: Database, runId: number, b: BuildReport): number {
  const res = stmt(
    db,
    `INSERT INTO builds (run_id, toolchain, phase, status, verdict, cached, duration_ms, bot_error, log_path)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    runId,
    b.toolchain,
    b.phase,
    b.status,
    b.verdict ?? null,
    b.cached ? 1 : 0,
    b.durationMs,
    b.botError,
    b.logPath,
  );
  return Number(res.lastInsertRowid);
}

/** A retried job records its builds afresh (their findings go first: findings.build_id). */
export function deleteBuildsOfRun(db: Database, runId: number): void {
  stmt(db, 'DELETE FROM builds WHERE run_id = ?').run(runId);
}

export function buildsOfRun(db: Database, runId: number): BuildDbRow[] {
  return stmt(db, 'SELECT * FROM builds WHERE run_id = ? ORDER BY phase DESC, toolchain, id')
    .all(runId)
    .map(toBuildRow);
}

/** undefined: no such build; null: the build kept no log. */
export function logPathOfBuild(db: Database, id: number): string | null | undefined {
  const row = stmt(db, 'SELECT log_path FROM builds WHERE id = ?').get(id);
  return row === undefined ? undefined : textOrNull(raw(row, 'builds'), 'log_path');
}

/** Toolchains of the last few thousand runs: the web list's filter choices. */
export function recentToolchains(db: Database): string[] {
  return stmt(
    db,
    `SELECT DISTINCT toolchain FROM builds WHERE run_id > (SELECT coalesce(max(id), 0) - 5000 FROM runs)
       ORDER BY toolchain`,
  )
    .all()
    .map((row) => text(raw(row, 'builds'), 'toolchain'));
}

/** A run's series builds, one per toolchain, with their verdict and new duplicates. */
export function seriesBuildBadges(
  db: Database,
  runId: number,
): { toolchain: string; status: BuildStatus; verdict: Verdict; newDuplicates: number }[] {
  return stmt(
    db,
    `SELECT b.toolchain, b.status, ${TOOLCHAIN_VERDICT} AS verdict,
         (SELECT count(*) FROM findings f
           WHERE f.run_id = b.run_id AND f.build_id = b.id AND f.kind = 'duplicate-symbol' AND f.status = 'new')
           AS newDuplicates
       FROM builds b WHERE b.run_id = ? AND b.phase = 'series' ORDER BY b.toolchain`,
  )
    .all(runId)
    .map((row) => {
      const r = raw(row, 'builds');
      return {
        toolchain: text(r, 'toolchain'),
        status: oneOf(r, 'status', BUILD_STATUSES),
        verdict: oneOf(r, 'verdict', VERDICTS),
        newDuplicates: int(r, 'newDuplicates'),
      };
    });
}

/**
 * Series builds per toolchain per week (weeks start on Monday, UTC), by the run's finish
 * time. Baseline builds are not counted: they judge the tree, not the series.
 */
export function weeklyBuildCounts(
  db: Database,
  since: string,
): { week: string; toolchain: string; pass: number; fail: number; error: number }[] {
  return stmt(
    db,
    `SELECT date(r.finished_at, '-6 days', 'weekday 1') AS week, b.toolchain,
         sum(${TOOLCHAIN_VERDICT} = 'pass') AS pass,
         sum(${TOOLCHAIN_VERDICT} = 'fail') AS fail,
         sum(${TOOLCHAIN_VERDICT} = 'error') AS error
       FROM runs r JOIN builds b ON b.run_id = r.id
       WHERE r.finished_at >= ? AND b.phase = 'series'
       GROUP BY week, b.toolchain ORDER BY week, b.toolchain`,
  )
    .all(since)
    .map((row) => {
      const r = raw(row, 'builds');
      return {
        week: text(r, 'week'),
        toolchain: text(r, 'toolchain'),
        pass: int(r, 'pass'),
        fail: int(r, 'fail'),
        error: int(r, 'error'),
      };
    });
}

/**
 * Build durations per toolchain as cumulative histogram counts (≤ each bound, in seconds).
 * Cached baselines took no time and skipped builds never ran: neither says how long a build takes.
 */
export function buildDurationHistogram(
  db: Database,
  boundsS: readonly number[],
): { toolchain: string; counts: number[]; sumMs: number; count: number }[] {
  const bucketSql = boundsS.map((b, i) => `sum(duration_ms <= ${Number(b) * 1000}) AS b${i}`).join(', ');
  return stmt(
    db,
    `SELECT toolchain, ${bucketSql}, sum(duration_ms) AS sum, count(*) AS n FROM builds
       WHERE duration_ms IS NOT NULL AND cached = 0 AND status != 'skipped' GROUP BY toolchain ORDER BY toolchain`,
  )
    .all()
    .map((row) => {
      const r = raw(row, 'builds');
      return {
        toolchain: text(r, 'toolchain'),
        counts: boundsS.map((_, i) => numOrNull(r, `b${i}`) ?? 0),
        sumMs: numOrNull(r, 'sum') ?? 0,
        count: int(r, 'n'),
      };
    });
}
