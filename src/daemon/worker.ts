import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { Config } from '../config/load.ts';
import type { CheckResult } from '../contract.ts';
import { progressWords } from '../build/matrix.ts';
import type { Runner } from '../build/runner.ts';
import { now } from '../db/open.ts';
import { recordCheckResult } from '../db/record.ts';
import { loadSeriesToCheck } from '../ingest/process.ts';
import type { Logger } from '../log.ts';
import { runCheck, summarise } from '../pipeline/check.ts';
import { queueReply } from '../report/reply.ts';
import { reproduceLine, type HeadMail } from '../report/render.ts';
import type { SeriesToCheck } from '../series/types.ts';
import { VERSION } from '../version.ts';

// One check job: load the series version, run the pipeline, record the result, queue the
// reply. Sending is the outbox's job, on its own schedule.

export interface WorkerDeps {
  db: Database;
  config: Config;
  runner: Runner;
  log: Logger;
}

export interface JobOutcome {
  runId: number;
  result: CheckResult;
  reply: { state: string; emlPath: string | null } | null;
}

export async function executeCheck(
  deps: WorkerDeps,
  runId: number,
  signal: AbortSignal,
): Promise<JobOutcome> {
  const { db, config, log } = deps;
  const run = db.prepare('SELECT id, version_id FROM runs WHERE id = ?').get(runId) as
    { id: number; version_id: number | null } | undefined;
  if (!run || run.version_id === null) throw new Error(`run ${runId} has no series version`);
  db.prepare(`UPDATE runs SET state = 'running', started_at = ? WHERE id = ?`).run(now(), runId);
  const series = loadSeriesToCheck(db, run.version_id);
  const rlog = log.child({ run: runId, series: series.title, version: series.version });

  let result = reusedResult(db, run.version_id);
  let window: { startedAt: string; finishedAt: string } | undefined;
  if (result) {
    rlog.info('identical to an earlier posting: its result is reused');
  } else {
    if (!config.repo.url) throw new Error('repo.url is not configured: no tree to apply series to');
    result = await runCheck({
      config,
      series,
      runner: deps.runner,
      mirror: {
        url: config.repo.url,
        path: config.repo.mirror,
        timeoutMs: config.repo.gitTimeoutSeconds * 1000,
      },
      resolveBasedOn: async (messageId) => seriesByMessageId(db, messageId),
      toolchains: config.build.toolchains,
      logDir: join(config.workDir, 'logs', `run-${runId}`),
      log: rlog,
      signal,
      onProgress: (p) => {
        if (p.stage === 'build') {
          const e = p.event;
          rlog.info(
            { toolchain: e.toolchain, phase: e.phase, elapsedS: +(p.elapsedMs / 1000).toFixed(1) },
            `build ${progressWords(e)}`,
          );
        } else if (p.stage === 'base')
          rlog.info({ base: p.base.commit.slice(0, 12), ref: p.base.ref }, p.base.reason);
        else if (p.stage === 'apply')
          rlog.info(p.apply.ok ? `applied ${p.apply.applied}/${p.apply.total}` : `apply failed`);
      },
      onBuildWindow: (w) => (window = w),
    });
  }
  // A build the signal stopped reports itself as an error build: that is no result to record.
  signal.throwIfAborted();
  recordCheckResult(db, {
    result,
    runId,
    versionId: run.version_id,
    origin: 'mail',
    timestamps: { buildStartedAt: window?.startedAt ?? null, buildFinishedAt: window?.finishedAt ?? null },
  });
  rlog.info({ verdict: result.verdict }, result.summary);
  const reply = await replyFor(deps, runId, run.version_id, series, result);
  return { runId, result, reply };
}

/** After the last attempt failed: the run is the bot's error, recorded as such, never the series'. */
export async function recordBotFailure(deps: WorkerDeps, runId: number, error: string): Promise<void> {
  const { db } = deps;
  const run = db.prepare('SELECT version_id, started_at FROM runs WHERE id = ?').get(runId) as {
    version_id: number | null;
    started_at: string | null;
  };
  if (run.version_id === null) return;
  const series = loadSeriesToCheck(db, run.version_id);
  const result: CheckResult = {
    listciVersion: VERSION,
    series: summarise(series),
    base: null,
    apply: null,
    builds: [],
    verdict: 'error',
    summary: `error: listci failed: ${error.split('\n')[0]}`,
    startedAt: run.started_at ?? now(),
    finishedAt: now(),
  };
  recordCheckResult(db, { result, runId, versionId: run.version_id, origin: 'mail' });
  await replyFor(deps, runId, run.version_id, series, result);
}

async function replyFor(
  deps: WorkerDeps,
  runId: number,
  versionId: number,
  series: SeriesToCheck,
  result: CheckResult,
) {
  const head = headMail(deps.db, versionId, series);
  if (!head) return null;
  const q = await queueReply(deps.db, {
    reply: deps.config.reply,
    listAddress: deps.config.list.addresses[0] ?? null,
    input: { result, head, runId, reproduce: reproduceLine(head.messageId) },
  });
  return { state: String(q.state), emlPath: q.emlPath };
}

function headMail(db: Database, versionId: number, series: SeriesToCheck): HeadMail | null {
  const row = db
    .prepare(
      `SELECT m.message_id, m.subject, m.refs FROM series_versions sv JOIN messages m ON m.message_id = sv.head_message_id
        WHERE sv.id = ?`,
    )
    .get(versionId) as { message_id: string; subject: string | null; refs: string } | undefined;
  if (!row) return null;
  return {
    subject: row.subject ?? series.title,
    messageId: row.message_id,
    references: JSON.parse(row.refs) as string[],
    author: series.author,
  };
}

function reusedResult(db: Database, versionId: number): CheckResult | null {
  const row = db
    .prepare(
      `SELECT r.result_json FROM series_versions sv JOIN runs r ON r.version_id = sv.reuses_version
        WHERE sv.id = ? AND r.state = 'done' AND r.verdict IN ('pass', 'fail') ORDER BY r.id DESC LIMIT 1`,
    )
    .get(versionId) as { result_json: string } | undefined;
  return row ? (JSON.parse(row.result_json) as CheckResult) : null;
}

/** Based-on: <message-id> names the cover letter or first patch of a series listci has seen. */
function seriesByMessageId(db: Database, messageId: string): SeriesToCheck | null {
  const row = db
    .prepare(
      `SELECT id FROM series_versions WHERE head_message_id = ? OR cover_message_id = ?
       UNION SELECT version_id FROM patches WHERE message_id = ? LIMIT 1`,
    )
    .get(messageId, messageId, messageId) as { id: number } | undefined;
  return row ? loadSeriesToCheck(db, row.id) : null;
}
