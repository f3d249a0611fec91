import type { Database } from 'better-sqlite3';
import { ConfigError, type Config, type ConfigWithSecrets } from '../config/load.ts';
import { removeOwnLeftovers, runnerFromConfig } from '../build/select-runner.ts';
import { failedUnrecorded, hasReadyJob, recoverInterrupted, type Job } from '../db/jobs.ts';
import { openDb } from '../db/open.ts';
import { abandonRun, recentBaseRefs, requeueRun, retryRun, startNextRun } from '../db/runs.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_BACKOFF, deliverPending } from '../report/outbox.ts';
import { startWebServer, type WebServer } from '../web/server.ts';
import { cancelSuperseded, scheduleReady } from './schedule.ts';
import { mailboxLookup, mailSourceFor, processUnclassified } from './sources.ts';
import { WarmUps } from './warm-ups.ts';
import { openRemote, type Remote } from './remote.ts';
import { executeCheck, recordBotFailure, type JobOutcome } from './worker.ts';

// The main job: mail in → series → run queue → check → record → reply, one check at a
// time, with a durable queue in SQLite. Stopping (SIGTERM) aborts the running check, which
// stops its containers, and puts the job back for the next start.
//
// With a build queue (queue.type: redis) the builds run on `listci worker`s: the daemon keeps
// up to queue.maxInFlight checks waiting on them at once, and goes on taking in mail while
// they wait. It is still the only process that writes the database.

export interface DaemonOptions {
  /** The command reads the secrets: the daemon is what logs in to IMAP and SMTP. */
  config: ConfigWithSecrets;
  log: Logger;
  /** Process what is there now, then exit (tests, the demo's `--once`). */
  once?: boolean;
  /** Called after each finished check. */
  onRun?: (o: JobOutcome) => void;
  /** Called once the web server listens. */
  onListening?: (url: string) => void;
  signal?: AbortSignal;
  /** Tries per check before it is recorded as listci's own failure. */
  maxAttempts?: number;
}

const MAX_ATTEMPTS = 3;
/** A branch a series was based on this recently is kept warm (branchMap targets: stable-4.19…). */
const RECENT_BASE_DAYS = 14;

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const { config, log } = opts;
  const db = openDb(config.database);
  const maxAttempts = opts.maxAttempts ?? MAX_ATTEMPTS;
  const recovered = recoverInterrupted(db, { maxAttempts });
  if (recovered.resumed)
    log.warn({ jobs: recovered.resumed }, 'resuming checks interrupted by the last stop');
  if (recovered.failed)
    log.error(
      { jobs: recovered.failed, maxAttempts },
      'checks interrupted by a crash at every attempt: failed',
    );

  // With a build queue the Redis password is read now: a missing secret stops the start here.
  let remote: Remote | null = null;
  try {
    remote = config.queue ? await openRemote({ ...config, queue: config.queue }, db, log) : null;
  } catch (e) {
    db.close();
    throw e;
  }

  let web: WebServer | null = null;
  if (config.web.enabled) {
    try {
      web = await startWebServer({
        dbPath: config.database,
        host: config.web.host,
        port: config.web.port,
        log,
        workDir: config.workDir,
      });
    } catch (e) {
      await remote?.stop();
      db.close();
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
        throw new ConfigError(
          `config: ${config.source}: web.port: cannot listen on ${config.web.host}:${config.web.port} (${code}); choose another port or set web.enabled: false`,
        );
      throw e;
    }
    opts.onListening?.(web.url);
  }

  // With a build queue this host builds nothing: its engine, if any, is none of the daemon's
  // business, and build.runner's local-runner warning is about the workers, not this host.
  const runner = runnerFromConfig(config.build, remote ? undefined : log);
  if (!remote) await removeOwnLeftovers(runner, log);
  for (const f of failedUnrecorded(db)) {
    await recordBotFailure({ db, config, runner, log, remote }, f.runId, f.error).then(
      () => log.warn({ run: f.runId, error: f.error }, "failed check recorded as listci's error"),
      (e: unknown) =>
        log.error({ err: e, run: f.runId }, "could not record the failed check as listci's error"),
    );
  }
  let wake: () => void = () => {};
  const source = mailSourceFor(config, db, log, () => wake());
  source.start();

  const current = new AbortController();
  const stopping = () => opts.signal?.aborted === true;
  opts.signal?.addEventListener('abort', () => {
    current.abort(new Error('listci is stopping'));
    wake();
  });

  const delivery = startDelivery(db, config, log);
  // No warm-ups with a build queue: the daemon builds nothing, and each worker keeps the
  // baselines of what it built warm in its own snapshots.
  const warmUps =
    config.repo.url && !remote
      ? new WarmUps({
          config,
          runner,
          mirror: {
            url: config.repo.url,
            path: config.repo.mirror,
            timeoutMs: config.repo.gitTimeoutSeconds * 1000,
          },
          log,
          recentRefs: () => recentBaseRefs(db, new Date(Date.now() - RECENT_BASE_DAYS * 86_400_000)),
        })
      : null;
  // A warm-up asks before each toolchain whether a check is waiting, taking in new mail first.
  const checkWaiting = (): boolean => {
    intake(db, config, log);
    return hasReadyJob(db, 'check');
  };
  const inFlight = new Set<Promise<void>>();
  const idle = () =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1000);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  try {
    if (opts.once) await source.caughtUp();
    while (!stopping()) {
      intake(db, config, log);
      if (remote) {
        // Not awaited: each check waits for its workers while the loop takes in mail and
        // starts the next, up to maxInFlight.
        while (inFlight.size < config.queue!.maxInFlight && !stopping()) {
          const job = startNextRun(db);
          if (!job) break;
          const p: Promise<void> = runJob(db, config, log, job, runner, current.signal, opts, remote)
            .catch((e: unknown) =>
              log.error({ err: e, run: job.ref_id }, "could not record the check's failure"),
            )
            .finally(() => {
              inFlight.delete(p);
              void delivery.pass();
              wake();
            });
          inFlight.add(p);
        }
        if (opts.once && inFlight.size === 0) {
          await delivery.pass();
          break;
        }
        void delivery.pass();
        await idle();
        continue;
      }
      const job = startNextRun(db);
      if (job) {
        await runJob(db, config, log, job, runner, current.signal, opts, null);
        // Not awaited: a slow SMTP server must not hold up the next check.
        void delivery.pass();
        continue;
      }
      if (opts.once) {
        await delivery.pass();
        break;
      }
      void delivery.pass();
      // Idle: build the base of a moved branch before a series needs it.
      const warmed = await warmUps?.step(checkWaiting, current.signal).catch((e: unknown) => {
        if (!stopping()) log.warn({ err: e }, 'warm-up failed');
        return false;
      });
      if (warmed) continue;
      await idle();
    }
  } finally {
    // Stopping aborted them: each puts its run back in the queue before it settles.
    await Promise.allSettled(inFlight);
    await remote?.stop();
    await source.stop();
    await delivery.stop();
    await web?.close();
    db.close();
    log.info('stopped');
  }
}

/** Classify what arrived, drop work for superseded versions, queue what is ready. */
function intake(db: Database, config: Config, log: Logger): void {
  processUnclassified(db, config, log);
  const cancelled = cancelSuperseded(db);
  if (cancelled.length) log.info({ runs: cancelled }, 'cancelled checks of superseded versions');
  for (const s of scheduleReady(db, new Date(), config.series.incompleteWaitMinutes)) {
    log.info({ run: s.runId, version: s.versionId }, 'series ready: check queued');
  }
}

async function runJob(
  db: Database,
  config: Config,
  log: Logger,
  job: Job,
  runner: ReturnType<typeof runnerFromConfig>,
  signal: AbortSignal,
  opts: DaemonOptions,
  remote: Remote | null,
): Promise<void> {
  const deps = { db, config, runner, log, remote };
  // Host-side steps (git, checks) can hang as well as builds: the whole check has a limit.
  // With a build queue the workers hold each job to it (a run may wait long for a free one).
  const limitMinutes = config.build.jobTimeoutMinutes;
  const timeLimit = remote ? new AbortController().signal : AbortSignal.timeout(limitMinutes * 60_000);
  try {
    const outcome = await executeCheck(deps, job.ref_id, AbortSignal.any([signal, timeLimit]), job.attempts);
    opts.onRun?.(outcome);
  } catch (e) {
    if (signal.aborted) {
      // Not the job's fault: it goes back to the queue as it was.
      requeueRun(db, job);
      log.info({ run: job.ref_id }, 'check interrupted; it resumes at the next start');
      return;
    }
    // Past the limit the check is listci's failed attempt, not a stop: it counts.
    const message = timeLimit.aborted
      ? `the check ran past build.jobTimeoutMinutes (${limitMinutes} min)`
      : e instanceof Error
        ? e.message
        : String(e);
    const max = opts.maxAttempts ?? MAX_ATTEMPTS;
    log.error({ err: e, run: job.ref_id, attempt: job.attempts }, 'check failed (listci error)');
    if (retryRun(db, job, message, { maxAttempts: max, baseDelayMs: 10_000 })) return;
    await recordBotFailure(deps, job.ref_id, message).catch((err: unknown) => {
      // The job ends all the same; the next start records the run (failedUnrecorded).
      abandonRun(db, job.ref_id, message);
      throw err;
    });
  }
}

/** The outbox's delivery passes, never two at once (an in-flight reply must not look abandoned). */
function startDelivery(db: Database, config: ConfigWithSecrets, log: Logger) {
  let running: Promise<void> | null = null;
  let stopped = false;
  const imapCheck = mailboxLookup(config);
  const once = async () => {
    if (!config.reply.smtp) return;
    const report = await deliverPending(db, {
      smtp: config.reply.smtp,
      password: config.secrets.smtpPassword,
      imapCheck,
      backoff: { ...DEFAULT_BACKOFF, baseMs: config.reply.retryBaseSeconds * 1000 },
      log,
    });
    if (report.sent.length) log.info({ replies: report.sent }, 'replies sent');
  };
  const pass = async () => {
    if (stopped) return;
    if (!running)
      running = once()
        .catch((e: unknown) => log.error({ err: e }, 'reply delivery failed; retrying later'))
        .finally(() => (running = null));
    await running;
  };
  const timer = setInterval(() => void pass(), 5000);
  return {
    pass,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
