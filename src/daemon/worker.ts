import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { Config } from '../config/load.ts';
import type { CheckResult } from '../contract.ts';
import type { Runner } from '../build/runner.ts';
import { now } from '../db/open.ts';
import { messageByMessageId } from '../db/messages.ts';
import { reusableResultJson } from '../db/run-reads.ts';
import { abandonRun, errorRun, finishRun, runById } from '../db/runs.ts';
import { versionById, versionIdOfMessage } from '../db/versions.ts';
import type { Logger } from '../log.ts';
import { runCheck, summarise, type CheckProgress } from '../pipeline/check.ts';
import { queueReply } from '../report/reply.ts';
import { reproduceLine, type HeadMail } from '../report/render.ts';
import { progressLine } from '../pipeline/progress-line.ts';
import { loadSeriesToCheck } from '../series/load.ts';
import type { SeriesToCheck } from '../series/types.ts';
import { VERSION } from '../version.ts';
import { checkRemotely, type Remote } from './remote.ts';

// One check job: load the series version, run the pipeline, record the result, queue the
// reply. Sending is the outbox's job, on its own schedule.

export interface WorkerDeps {
  db: Database;
  config: Config;
  runner: Runner;
  log: Logger;
  /** With queue.type redis: the builds go to `listci worker`s (remote.ts). */
  remote?: Remote | null;
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
  /** The run's attempt (its job's), which names its build jobs on the queue. */
  attempt = 1,
): Promise<JobOutcome> {
  const { db, config, log } = deps;
  // The run was started with its job (startNextRun).
  const run = runById(db, runId);
  if (!run || run.version_id === null) throw new Error(`run ${runId} has no series version`);
  const series = loadSeriesToCheck(db, run.version_id);
  const rlog = log.child({ run: runId, series: series.title, version: series.version });

  let result = reusedResult(db, run.version_id);
  let window: { startedAt: string; finishedAt: string } | undefined;
  if (result) {
    rlog.info('identical to an earlier posting: its result is reused');
  } else {
    if (!config.repo.url) throw new Error('repo.url is not configured: no tree to apply series to');
    const logDir = join(config.workDir, 'logs', `run-${runId}`);
    const resolveBasedOn = async (messageId: string) => seriesByMessageId(db, messageId);
    const onProgress = (p: CheckProgress) => {
      const elapsedS = +(p.elapsedMs / 1000).toFixed(1);
      if (p.stage === 'build')
        rlog.info({ toolchain: p.event.toolchain, phase: p.event.phase, elapsedS }, progressLine(p));
      else if (p.stage === 'base')
        rlog.info({ base: p.base.commit.slice(0, 12), ref: p.base.ref, elapsedS }, progressLine(p));
      else if (p.stage === 'apply') rlog.info({ elapsedS }, progressLine(p));
    };
    if (deps.remote) {
      ({ result, window } = await checkRemotely(deps.remote, {
        config,
        series,
        runId,
        attempt,
        runKey: run.queued_at,
        logDir,
        log: rlog,
        signal,
        resolveBasedOn,
        onProgress,
      }));
    } else {
      result = await runCheck({
        config,
        series,
        runner: deps.runner,
        mirror: {
          url: config.repo.url,
          path: config.repo.mirror,
          timeoutMs: config.repo.gitTimeoutSeconds * 1000,
        },
        resolveBasedOn,
        toolchains: config.build.toolchains,
        logDir,
        log: rlog,
        signal,
        onProgress,
        onBuildWindow: (w) => (window = w),
      });
    }
  }
  // A build the signal stopped reports itself as an error build: that is no result to record.
  signal.throwIfAborted();
  rlog.info({ verdict: result.verdict }, result.summary);
  // The reply is recorded before the run is done: a crash in between resumes the check,
  // and the outbox keeps the first reply, where a done run would have been left without one.
  // One run records at a time: with a build queue several finish together, and the reply
  // policy's hourly limits are read, then written, across an await.
  const reply = await recordingInTurn(async () => {
    const queued = await replyFor(deps, runId, run.version_id!, series, result);
    finishRun(db, {
      result,
      runId,
      versionId: run.version_id!,
      origin: 'mail',
      timestamps: {
        buildStartedAt: window?.startedAt ?? null,
        buildFinishedAt: window?.finishedAt ?? null,
        // A dry-run reply is "sent" once written to the outbox directory.
        replySentAt: queued?.state === 'dry-run' ? now() : null,
      },
    });
    return queued;
  });
  return { runId, result, reply };
}

let recording: Promise<unknown> = Promise.resolve();
function recordingInTurn<T>(fn: () => Promise<T>): Promise<T> {
  const run = recording.then(fn, fn);
  recording = run.catch(() => undefined);
  return run;
}

/**
 * After the last attempt failed: the run is the bot's error, recorded as such, never the
 * series'. Its job fails in the same transaction (errorRun).
 */
export async function recordBotFailure(deps: WorkerDeps, runId: number, error: string): Promise<void> {
  const { db } = deps;
  const run = runById(db, runId);
  if (!run || run.version_id === null) return abandonRun(db, runId, error);
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
  const versionId = run.version_id;
  await recordingInTurn(async () => {
    await replyFor(deps, runId, versionId, series, result);
    errorRun(db, { result, runId, versionId, origin: 'mail' }, error);
  });
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
  const v = versionById(db, versionId);
  const row = v ? messageByMessageId(db, v.head_message_id) : null;
  if (!row) return null;
  return {
    subject: row.subject ?? series.title,
    messageId: row.message_id,
    references: JSON.parse(row.refs) as string[],
    author: series.author,
  };
}

function reusedResult(db: Database, versionId: number): CheckResult | null {
  const json = reusableResultJson(db, versionId);
  return json ? (JSON.parse(json) as CheckResult) : null;
}

/** Based-on: <message-id> names the cover letter or first patch of a series listci has seen. */
function seriesByMessageId(db: Database, messageId: string): SeriesToCheck | null {
  const versionId = versionIdOfMessage(db, messageId);
  return versionId !== null ? loadSeriesToCheck(db, versionId) : null;
}
