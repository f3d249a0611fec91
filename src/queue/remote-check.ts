import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job, Queue } from 'bullmq';
import { FailureCount } from '../backoff.ts';
import type { Config } from '../config/load.ts';
import type { QueueConfig, ToolchainConfig } from '../config/schema.ts';
import type { CheckResult } from '../contract.ts';
import type { QueueCounts } from '../db/build-queues.ts';
import type { BaseDecision } from '../git/base.ts';
import type { Logger } from '../log.ts';
import type { SeriesToCheck } from '../series/types.ts';
import {
  buildRulesOf,
  jobIdFor,
  logBytesCap,
  makePayload,
  parseResult,
  queueName,
  type BuildJobPayload,
} from './job.ts';
import { buildWindowOf, mergeResults, type ToolchainOutcome } from './merge.ts';
import { loadBullmq, producerConnection, withTimeout, type Bull, type RedisTarget } from './redis.ts';

// The daemon's half of a queued check. The daemon has chosen the base (its mirror, its
// database for Based-on); here it adds one job per toolchain and waits for them by asking
// Redis for each job's state every half second, rather than trusting an event stream: a
// poll survives a Redis restart, a daemon restart and a missed event alike. While Redis is
// down it keeps asking, backing off, and the run simply waits; a job Redis no longer has
// (restarted without persistence) is added again under the same id.

const POLL_MS = 500;
/** One Redis call; past it the connection is taken as down (a half-open socket never answers). */
const CALL_MS = 5000;
/** Finished jobs stay this long, so a daemon restarted within it finds the results already there. */
const KEEP_FINISHED_S = 2 * 86_400;

export interface RemoteCheckRequest {
  runId: number;
  /** The run's attempt: another attempt is another job, the same one (a restart) the same job. */
  attempt: number;
  /** Stable for the run, unique across databases (its queued-at time): part of the job ids. */
  runKey: string;
  series: SeriesToCheck;
  decision: BaseDecision;
  startedAt: Date;
  /** The run's log dir: the workers' logs are written here. */
  logDir: string;
  log: Logger;
  signal: AbortSignal;
}

export interface RemoteCheckOutcome {
  result: CheckResult;
  buildWindow: { startedAt: string; finishedAt: string } | null;
}

export class RemoteBuilds {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly bull: Bull,
    private readonly config: Config & { queue: QueueConfig },
    private readonly queues: Map<string, Queue>,
    private readonly log: Logger,
  ) {}

  /** Queues for the configured toolchains. Does not wait for Redis: it may be down now. */
  static async open(config: Config & { queue: QueueConfig }, password: string | null, log: Logger) {
    const bull = await loadBullmq();
    const connection = producerConnection({ queue: config.queue, password } satisfies RedisTarget);
    const queues = new Map<string, Queue>();
    let lastError = '';
    for (const t of config.build.toolchains) {
      const q = new bull.Queue(queueName(t.name), { connection, prefix: config.queue.prefix });
      // An EventEmitter 'error' with no listener would end the daemon; an outage is logged once.
      q.on('error', (e: Error) => {
        if (e.message !== lastError)
          log.warn({ err: e.message, toolchain: t.name }, 'build queue: Redis error');
        lastError = e.message;
      });
      queues.set(t.name, q);
    }
    return new RemoteBuilds(bull, config, queues, log);
  }

  /**
   * Runs `fn` after every earlier one has finished: in-flight checks share the daemon's mirror,
   * and two fetches into one repository at once fight over its ref locks.
   */
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  async check(req: RemoteCheckRequest): Promise<RemoteCheckOutcome> {
    const toolchains = this.config.build.toolchains;
    const rules = buildRulesOf(this.config);
    const jobs = toolchains.map((toolchain) => {
      const payload = makePayload({
        runId: req.runId,
        attempt: req.attempt,
        repoUrl: upstreamUrl(this.config.repo.url!),
        decision: req.decision,
        series: req.series,
        toolchain,
        rules,
      });
      return {
        toolchain,
        payload,
        id: jobIdFor(payload, req.runKey),
        added: false,
        outcome: null as ToolchainOutcome | null,
      };
    });
    // Back off while Redis is down, but not past a few seconds: it is back the moment it restarts.
    const failures = new FailureCount({ baseMs: POLL_MS, maxMs: 5000 });
    let down = false;
    while (jobs.some((j) => !j.outcome)) {
      req.signal.throwIfAborted();
      let wait = POLL_MS;
      try {
        for (const j of jobs) {
          if (j.outcome) continue;
          if (!j.added) {
            await this.add(j.toolchain, j.id, j.payload);
            j.added = true;
            req.log.info({ toolchain: j.toolchain.name, job: j.id }, 'build job queued');
            continue;
          }
          const seen = await this.look(j.toolchain, j.id);
          if (seen === 'missing') {
            req.log.warn(
              { toolchain: j.toolchain.name, job: j.id },
              'build job gone from Redis (restarted without persistence?): queueing it again',
            );
            j.added = false;
          } else if (seen) {
            j.outcome = seen;
            if ('failed' in seen)
              req.log.error(
                { toolchain: j.toolchain.name, job: j.id, error: seen.failed },
                'build job failed',
              );
            else
              req.log.info(
                {
                  toolchain: j.toolchain.name,
                  worker: seen.result.worker,
                  checkS: +(seen.result.timings.checkMs / 1000).toFixed(1),
                },
                'build job done',
              );
          }
        }
        if (down) req.log.info('Redis is back: build jobs continue');
        down = false;
        failures.reset();
      } catch (e) {
        wait = failures.next();
        if (!down)
          req.log.warn(
            { err: (e as Error).message, retryInMs: wait },
            'Redis unreachable: the check waits for it',
          );
        down = true;
      }
      if (jobs.some((j) => !j.outcome)) await sleep(wait, undefined, { signal: req.signal });
    }
    const outcomes = jobs.map((j) => j.outcome!);
    const results = outcomes.flatMap((o) => ('result' in o ? [o.result] : []));
    const written = writeLogs(req.logDir, results, req.log, logBytesCap(this.config.build.logCapKb));
    return {
      result: mergeResults({
        series: req.series,
        startedAt: req.startedAt,
        base: req.decision.choice,
        outcomes,
        logPathOf: (_t, rel) => (rel && written.has(rel) ? join(req.logDir, rel) : null),
      }),
      buildWindow: buildWindowOf(results),
    };
  }

  /** Jobs per state in each toolchain's queue, for /metrics. */
  async counts(): Promise<QueueCounts[]> {
    const out: QueueCounts[] = [];
    for (const [toolchain, q] of this.queues) {
      const c = await withTimeout('job counts', CALL_MS, () =>
        q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
      );
      out.push({
        toolchain,
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        failed: c.failed ?? 0,
        completed: c.completed ?? 0,
      });
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }

  private queue(t: ToolchainConfig): Queue {
    const q = this.queues.get(t.name);
    if (!q) throw new Error(`no build queue for toolchain ${t.name}`);
    return q;
  }

  /** Adding an id Redis already has is a no-op in BullMQ: a second add never makes a second job. */
  private async add(t: ToolchainConfig, id: string, payload: BuildJobPayload): Promise<void> {
    const q = this.config.queue;
    await withTimeout('adding a build job', CALL_MS, () =>
      this.queue(t).add(t.name, payload, {
        jobId: id,
        attempts: q.attempts,
        // Another worker usually takes the retry at once; the pause spares a flapping engine.
        backoff: { type: 'fixed', delay: 2000 },
        removeOnComplete: { age: KEEP_FINISHED_S },
        removeOnFail: { age: KEEP_FINISHED_S },
      }),
    );
  }

  /** A finished job's outcome, 'missing' when Redis has no such job, null while it waits or builds. */
  private async look(t: ToolchainConfig, id: string): Promise<ToolchainOutcome | 'missing' | null> {
    const queue = this.queue(t);
    const state = await withTimeout('a job state', CALL_MS, () => queue.getJobState(id));
    if (state === 'unknown') return 'missing';
    if (state !== 'completed' && state !== 'failed') return null;
    const job: Job | undefined = await withTimeout('a job', CALL_MS, () => this.bull.Job.fromId(queue, id));
    if (!job) return 'missing';
    if (state === 'failed') {
      const where = job.processedBy ? ` (last on worker ${job.processedBy})` : '';
      return {
        toolchain: t,
        failed: `the ${t.name} build job failed after ${job.attemptsMade} attempt(s)${where}: ${job.failedReason || 'no reason given'}`,
      };
    }
    try {
      const result = parseResult(job.returnvalue);
      const stray = [result.toolchain, ...result.builds.map((b) => b.toolchain)].find((n) => n !== t.name);
      if (stray !== undefined) throw new Error(`it reports toolchain ${stray} for a ${t.name} job`);
      return { toolchain: t, result };
    } catch (e) {
      return {
        toolchain: t,
        failed: `the ${t.name} build result from ${job.processedBy ?? 'a worker'} is unusable: ${(e as Error).message}`,
      };
    }
  }
}

/**
 * The workers' logs into the run's log dir, under the names they had there. Names and bytes
 * come off the network: a name that is absolute, climbs out of the dir or is not a .log file,
 * and a log past the cap the worker should have applied, are not written.
 */
export function writeLogs(
  logDir: string,
  results: { logs: { path: string; data: string }[] }[],
  log: Logger,
  maxBytes: number,
): Set<string> {
  const written = new Set<string>();
  for (const r of results)
    for (const l of r.logs) {
      const rel = normalize(l.path);
      if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`) || !rel.endsWith('.log')) {
        log.warn({ path: l.path }, 'build log with a path outside the run dir: not written');
        continue;
      }
      const data = Buffer.from(l.data, 'base64');
      if (data.length > maxBytes) {
        log.warn({ path: l.path, bytes: data.length, maxBytes }, 'build log past the cap: not written');
        continue;
      }
      const file = join(logDir, rel);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, data);
      written.add(l.path);
    }
  return written;
}

/**
 * repo.url as the worker must fetch it: a URL as it is, a path made absolute here (the
 * daemon's mirror resolves it from the daemon's directory, a worker would from its own).
 */
function upstreamUrl(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^/]+:/.test(url) ? url : resolve(url);
}
