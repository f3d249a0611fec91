import type { Database } from 'better-sqlite3';
import type { BuildReport, CheckResult } from '../contract.ts';

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
  origin: 'mail' | 'check';
  timestamps?: RunTimestamps;
  /** A run the daemon queued earlier (jobs.ref_id): it is completed in place instead of inserted. */
  runId?: number;
}

/**
 * Writes one finished check: the run (with the whole CheckResult as JSON), one row per
 * build, one row per finding. The JSON stays the source of truth for /api/runs/:id; the
 * rows exist so that maintainers can search across runs ("who ever introduced X?").
 * One transaction: a reader never sees a run without its builds.
 */
export function recordCheckResult(db: Database, input: RecordInput): number {
  const { result } = input;
  const ts = input.timestamps ?? {};
  const runRow = {
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

  const write = db.transaction((): number => {
    let runId: number;
    if (input.runId !== undefined) {
      const res = db
        .prepare(
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
        )
        .run({ ...runRow, id: input.runId });
      if (res.changes !== 1) throw new Error(`recordCheckResult: run ${input.runId} does not exist`);
      runId = input.runId;
      // A retried job must not double its findings.
      db.prepare('DELETE FROM findings WHERE run_id = ?').run(runId);
      db.prepare('DELETE FROM builds WHERE run_id = ?').run(runId);
    } else {
      const res = db
        .prepare(
          `INSERT INTO runs (version_id, origin, state, verdict, summary, base_commit, base_ref, base_reason,
             apply_ok, result_json, mail_received_at, series_complete_at, queued_at, started_at,
             build_started_at, build_finished_at, finished_at, reply_sent_at)
           VALUES (@version_id, @origin, 'done', @verdict, @summary, @base_commit, @base_ref, @base_reason,
             @apply_ok, @result_json, @mail_received_at, @series_complete_at, @queued_at, @started_at,
             @build_started_at, @build_finished_at, @finished_at, @reply_sent_at)`,
        )
        .run(runRow);
      runId = Number(res.lastInsertRowid);
    }
    for (const build of result.builds) recordBuild(db, runId, build);
    return runId;
  });
  return write();
}

function recordBuild(db: Database, runId: number, b: BuildReport): void {
  const res = db
    .prepare(
      `INSERT INTO builds (run_id, toolchain, phase, status, verdict, cached, duration_ms, bot_error, log_path)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
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
  const buildId = Number(res.lastInsertRowid);
  const finding = db.prepare(
    `INSERT INTO findings (build_id, run_id, kind, status, symbol, objects, file, line, message)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const d of [...b.duplicates.new, ...b.duplicates.preexisting]) {
    // The same words as Xen's tools/symbols, so a search for its output finds the row.
    const message = `Duplicate symbol '${d.key}' (${d.addresses.join(' != ')})`;
    finding.run(
      buildId,
      runId,
      'duplicate-symbol',
      d.status,
      d.key,
      JSON.stringify(d.objects),
      null,
      null,
      message,
    );
  }
  for (const c of b.fileCollisions) {
    const message = `file name '${c.file}' names ${c.objects.length} objects: ${c.objects.join(', ')}`;
    finding.run(
      buildId,
      runId,
      'file-collision',
      c.status,
      null,
      JSON.stringify(c.objects),
      c.file,
      null,
      message,
    );
  }
  for (const e of b.errors) {
    finding.run(buildId, runId, e.kind, e.status, null, '[]', e.file, e.line, e.message);
  }
}
