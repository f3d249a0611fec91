import { mkdirSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import type { Config } from '../config/load.ts';
import type { QueueConfig } from '../config/schema.ts';
import { queuePassword } from '../config/load.ts';
import type { CheckResult } from '../contract.ts';
import { recordQueueCounts } from '../db/build-queues.ts';
import { recordWorkers, type WorkerSeen } from '../db/workers.ts';
import type { Logger } from '../log.ts';
import { chooseRunBase, type CheckProgress } from '../pipeline/check.ts';
import type { RemoteBuilds } from '../queue/remote-check.ts';
import type { SeriesToCheck } from '../series/types.ts';

// The daemon with a build queue (queue.type: redis): it chooses each series' base with its
// own mirror and database, and `listci worker`s build it. It stays the only writer of the
// database: the workers' heartbeats and the queues' depth are copied in here, every few
// seconds, for `listci query workers`, the API and /metrics.

const REFRESH_MS = 5000;

export interface Remote {
  builds: RemoteBuilds;
  stop(): Promise<void>;
}

/** The queues and the refresh of the workers table; BullMQ is loaded here and only here. */
export async function openRemote(
  config: Config & { queue: QueueConfig },
  db: Database,
  log: Logger,
): Promise<Remote> {
  const password = queuePassword(config.queue, config);
  const [{ RemoteBuilds }, { readHeartbeats }, { plainClient }] = await Promise.all([
    import('../queue/remote-check.ts'),
    import('../queue/heartbeat.ts'),
    import('../queue/redis.ts'),
  ]);
  const builds = await RemoteBuilds.open(config, password, log);
  const redis = await plainClient({ queue: config.queue, password }, { offlineQueue: false });
  let running: Promise<void> | null = null;
  let lastError = '';
  const refresh = async () => {
    try {
      const seen = await readHeartbeats(redis, config.queue.prefix);
      recordWorkers(
        db,
        seen.flatMap((w) => (w.heartbeat ? [toSeen(w.heartbeat)] : [])),
        seen
          .filter((w) => !w.heartbeat)
          .map((w) => ({ name: w.name, lastHeartbeat: new Date(w.lastSeenMs).toISOString() })),
      );
      recordQueueCounts(db, await builds.counts());
      lastError = '';
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== lastError)
        log.warn({ err: msg }, 'workers and queue depth: Redis unreachable; kept the last seen');
      lastError = msg;
    }
  };
  const timer = setInterval(() => {
    running ??= refresh().finally(() => (running = null));
  }, REFRESH_MS);
  log.info(
    { redis: config.queue.url, prefix: config.queue.prefix, maxInFlight: config.queue.maxInFlight },
    'builds go to listci workers through the Redis queue',
  );
  return {
    builds,
    stop: async () => {
      clearInterval(timer);
      await running;
      // The last word on the workers and queues before the daemon's figures go stale.
      await refresh();
      await builds.close();
      redis.disconnect();
    },
  };
}

function toSeen(h: import('../queue/heartbeat.ts').Heartbeat): WorkerSeen {
  return {
    name: h.name,
    host: h.host,
    pid: h.pid,
    state: h.state,
    toolchains: h.toolchains,
    images: h.images,
    missing: h.missing,
    currentJobs: h.current,
    jobsDone: h.jobsDone,
    jobsFailed: h.jobsFailed,
    concurrency: h.concurrency,
    listciVersion: h.listciVersion,
    startedAt: h.startedAt,
    lastHeartbeat: h.lastHeartbeat,
  };
}

export interface RemoteCheckInput {
  config: Config;
  series: SeriesToCheck;
  runId: number;
  attempt: number;
  /** The run's queued-at time: with the run id, names its jobs uniquely in a shared Redis. */
  runKey: string;
  logDir: string;
  log: Logger;
  signal: AbortSignal;
  resolveBasedOn: (messageId: string) => Promise<SeriesToCheck | null>;
  onProgress: (p: CheckProgress) => void;
}

/** One run on the queue: the base chosen here (one run at a time on the mirror), the builds there. */
export async function checkRemotely(
  remote: Remote,
  input: RemoteCheckInput,
): Promise<{ result: CheckResult; window: { startedAt: string; finishedAt: string } | undefined }> {
  const { config } = input;
  const startedAt = new Date();
  const base = await remote.builds.serialized(() =>
    chooseRunBase({
      config,
      series: input.series,
      mirror: {
        url: config.repo.url!,
        path: config.repo.mirror,
        timeoutMs: config.repo.gitTimeoutSeconds * 1000,
      },
      resolveBasedOn: input.resolveBasedOn,
      onProgress: input.onProgress,
      signal: input.signal,
      startedAt,
    }),
  );
  if (!base.decision) return { result: base.result, window: undefined };
  mkdirSync(input.logDir, { recursive: true });
  const out = await remote.builds.check({
    runId: input.runId,
    attempt: input.attempt,
    runKey: input.runKey,
    series: input.series,
    decision: base.decision,
    startedAt,
    logDir: input.logDir,
    log: input.log,
    signal: input.signal,
  });
  return { result: out.result, window: out.buildWindow ?? undefined };
}
