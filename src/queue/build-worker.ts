import { once } from 'node:events';
import { hostname } from 'node:os';
import type { Job, Worker } from 'bullmq';
import { FailureCount } from '../backoff.ts';
import { removeOwnLeftovers, runnerFromConfig } from '../build/select-runner.ts';
import { queuePassword } from '../config/load.ts';
import type { WorkerConfig } from '../config/worker.ts';
import { buildSection } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { VERSION } from '../version.ts';
import { writeHeartbeat, type Heartbeat } from './heartbeat.ts';
import { parsePayload, queueName, type BuildJobResult } from './job.ts';
import { loadBullmq, plainClient, workerConnection, type Bull, type RedisClient } from './redis.ts';
import { runBuildJob, type BuildHost } from './run-job.ts';
import {
  EngineUnavailable,
  Mirrors,
  ToolchainProbe,
  toolchainToProbe,
  ToolchainUnavailable,
} from './worker-host.ts';

// `listci worker`: one BullMQ worker per toolchain queue this host can build, `concurrency`
// jobs at once across all of them. BullMQ renews each job's lock every half lockDuration
// while the build runs (builds are child processes and container API calls, so the event
// loop stays free for the timer), and any worker's stalled check gives a dead worker's job
// to another. When every slot is taken the queues are paused, so that a job waits in Redis
// for a free host instead of on a busy one.

export interface StartOptions {
  config: WorkerConfig;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

/** Nothing this host offers can be built here: said at start, the worker does not run. */
export class NoToolchainError extends Error {
  override name = 'NoToolchainError';
}

export class BuildWorker {
  private readonly workers = new Map<string, Worker>();
  private readonly current = new Set<string>();
  private readonly stopController = new AbortController();
  private busy = 0;
  private jobsDone = 0;
  private jobsFailed = 0;
  private stopping = false;
  private coolingUntil = 0;
  private readonly engineFailures = new FailureCount({ baseMs: 15_000, maxMs: 300_000 });
  private readonly startedAt = new Date().toISOString();
  private beatTimer: NodeJS.Timeout | undefined;
  private lastBeatError = '';

  private constructor(
    private readonly bull: Bull,
    private readonly host: BuildHost,
    private readonly redis: RedisClient,
    /** Toolchain → the image or compiler found for it. */
    readonly images: Map<string, string>,
    /** Toolchain → why it is not built here. */
    readonly missing: Map<string, string>,
  ) {}

  /** Probes the toolchains, then listens on the queues of those this host has. */
  static async start(opts: StartOptions): Promise<BuildWorker> {
    const { config, log } = opts;
    const runner = runnerFromConfig(buildSection.parse(config.build), log, `worker:${config.name}`);
    await removeOwnLeftovers(runner, log);
    const probe = new ToolchainProbe(runner, config.build.socket);
    const images = new Map<string, string>();
    const missing = new Map<string, string>();
    for (const t of config.toolchains) {
      const p = await probe.probe(toolchainToProbe(t)).catch((e: unknown) => {
        if (e instanceof EngineUnavailable) throw new NoToolchainError(`worker ${config.name}: ${e.message}`);
        throw e;
      });
      if ('have' in p) images.set(t.name, p.have);
      else {
        missing.set(t.name, p.missing);
        log.warn(
          { toolchain: t.name, problem: p.missing },
          'toolchain not available: its queue is not served here',
        );
      }
    }
    if (images.size === 0)
      throw new NoToolchainError(
        `worker ${config.name}: none of its toolchains can be built here: ${[...missing].map(([t, why]) => `${t}: ${why}`).join('; ')}`,
      );
    const target = { queue: config.queue, password: queuePassword(config.queue, config, opts.env) };
    const bull = await loadBullmq();
    // Heartbeats fail fast while Redis is down (the next one is a few seconds away); the first
    // waits a moment for the connection, so a normal start does not begin with a warning.
    const redis = await plainClient(target, { offlineQueue: false });
    await Promise.race([once(redis, 'ready'), new Promise((r) => setTimeout(r, 5000).unref())]);
    const host: BuildHost = {
      config,
      runner,
      probe,
      mirrors: new Mirrors(config.workDir),
      offered: new Map(config.toolchains.map((t) => [t.name, t])),
      log,
    };
    const w = new BuildWorker(bull, host, redis, images, missing);
    for (const name of images.keys()) w.listen(name, workerConnection(target));
    w.beatTimer = setInterval(() => void w.beat(), config.heartbeatSeconds * 1000);
    await w.beat();
    return w;
  }

  get name(): string {
    return this.host.config.name;
  }

  /** The toolchains whose queues it serves now. */
  listening(): string[] {
    return [...this.workers.keys()];
  }

  /**
   * Stops taking jobs, stops the builds in progress and gives their jobs back to the queue
   * (another worker, or this one restarted, builds them; the attempt does not count).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.beat();
    for (const w of this.workers.values()) void w.pause(true);
    this.stopController.abort(new Error('listci worker is stopping'));
    await Promise.allSettled([...this.workers.values()].map((w) => w.close()));
    clearInterval(this.beatTimer);
    await this.beat('stopped');
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private listen(toolchain: string, connection: ReturnType<typeof workerConnection>): void {
    const q = this.host.config.queue;
    const worker = new this.bull.Worker(
      queueName(toolchain),
      (job: Job, token?: string, signal?: AbortSignal) => this.process(toolchain, job, token, signal),
      {
        connection,
        prefix: q.prefix,
        name: this.name,
        concurrency: this.host.config.concurrency,
        lockDuration: q.lockSeconds * 1000,
        stalledInterval: q.stalledSeconds * 1000,
        maxStalledCount: q.maxStalledCount,
      },
    );
    let lastError = '';
    worker.on('error', (e: Error) => {
      if (e.message !== lastError)
        this.host.log.warn({ err: e.message, toolchain }, 'build queue: Redis error');
      lastError = e.message;
    });
    // Counted once Redis has the result, not when the build ends: a job whose result Redis
    // refused (it restarted empty and the daemon queued the job again; another worker took
    // it after this one's lock lapsed) was not done by this worker.
    worker.on('completed', () => {
      this.jobsDone++;
      void this.beat();
    });
    this.workers.set(toolchain, worker);
  }

  private async process(
    toolchain: string,
    job: Job,
    token: string | undefined,
    lost: AbortSignal | undefined,
  ): Promise<BuildJobResult> {
    const id = job.id ?? '?';
    // Taken while the slots filled up (BullMQ's wait for the next job was already under way):
    // back to the queue at once, for a free host, without spending an attempt.
    if (this.stopping || this.busy >= this.host.config.concurrency || Date.now() < this.coolingUntil)
      return this.giveBack(job, token);
    this.busy++;
    if (this.busy >= this.host.config.concurrency) this.pauseAll();
    this.current.add(id);
    void this.beat();
    const log = this.host.log.child({ job: id, toolchain });
    try {
      let payload;
      try {
        payload = parsePayload(job.data);
        if (payload.toolchain.name !== toolchain)
          throw new Error(`a ${payload.toolchain.name} job in the ${toolchain} queue`);
      } catch (e) {
        // The same bytes fail the same way on every worker: no retry.
        throw new this.bull.UnrecoverableError(`worker ${this.name}: ${(e as Error).message}`);
      }
      const limitMinutes = payload.build.jobTimeoutMinutes;
      const timeLimit = AbortSignal.timeout(limitMinutes * 60_000);
      const signal = AbortSignal.any([this.stopController.signal, timeLimit, ...(lost ? [lost] : [])]);
      log.info({ run: payload.runId, attempt: job.attemptsMade + 1 }, 'build job started');
      try {
        const result = await runBuildJob(this.host, payload, id, signal);
        this.engineFailures.reset();
        log.info({ checkS: +(result.timings.checkMs / 1000).toFixed(1) }, 'build job done');
        return result;
      } catch (e) {
        if (this.stopController.signal.aborted) return await this.giveBack(job, token);
        if (timeLimit.aborted)
          throw new Error(
            `worker ${this.name}: the job ran past build.jobTimeoutMinutes (${limitMinutes} min)`,
          );
        throw e;
      }
    } catch (e) {
      if (e instanceof this.bull.WaitingError) throw e;
      this.jobsFailed++;
      if (e instanceof ToolchainUnavailable) this.drop(e.toolchain, e.reason);
      if (e instanceof EngineUnavailable) this.coolDown(e.message);
      log.error({ err: e }, 'build job failed; BullMQ retries it while it has attempts');
      throw this.named(e);
    } finally {
      this.current.delete(id);
      this.busy--;
      this.resumeAllIfFree();
      void this.beat();
    }
  }

  /** The job's failedReason is what the daemon reports: it names the worker it happened on. */
  private named(e: unknown): Error {
    const prefix = `worker ${this.name}: `;
    if (e instanceof Error && e.message.startsWith(prefix)) return e;
    return new Error(prefix + (e instanceof Error ? e.message : String(e)));
  }

  private async giveBack(job: Job, token: string | undefined): Promise<never> {
    await job.moveToWait(token);
    throw new this.bull.WaitingError();
  }

  /** The toolchain's image is gone: stop serving its queue, and say so in the heartbeat. */
  private drop(toolchain: string, reason: string): void {
    const w = this.workers.get(toolchain);
    if (!w) return;
    this.workers.delete(toolchain);
    this.images.delete(toolchain);
    this.missing.set(toolchain, reason);
    this.host.log.error(
      { toolchain, reason },
      'toolchain no longer available: its queue is left to other workers',
    );
    // Closing waits for this job's failure to be recorded (the connection stays open for it).
    void w
      .close()
      .catch((e: unknown) => this.host.log.warn({ err: e, toolchain }, 'closing the queue failed'));
  }

  /** The engine does not answer: take no jobs for a while instead of failing each one here. */
  private coolDown(why: string): void {
    const ms = this.engineFailures.next();
    this.coolingUntil = Date.now() + ms;
    this.host.log.error({ err: why, pauseS: ms / 1000 }, 'container engine down: not taking jobs for now');
    this.pauseAll();
    setTimeout(() => this.resumeAllIfFree(), ms).unref();
  }

  private pauseAll(): void {
    for (const w of this.workers.values()) void w.pause(true);
  }

  private resumeAllIfFree(): void {
    if (this.stopping || this.busy >= this.host.config.concurrency || Date.now() < this.coolingUntil) return;
    for (const w of this.workers.values()) if (w.isPaused()) void w.resume();
  }

  private async beat(state?: Heartbeat['state']): Promise<void> {
    const cfg = this.host.config;
    const hb: Heartbeat = {
      name: this.name,
      host: hostname(),
      pid: process.pid,
      toolchains: this.listening(),
      images: Object.fromEntries(this.images),
      missing: Object.fromEntries(this.missing),
      startedAt: this.startedAt,
      lastHeartbeat: new Date().toISOString(),
      jobsDone: this.jobsDone,
      jobsFailed: this.jobsFailed,
      current: [...this.current],
      state: state ?? (this.stopping ? 'stopping' : this.current.size > 0 ? 'busy' : 'idle'),
      concurrency: cfg.concurrency,
      listciVersion: VERSION,
    };
    try {
      await writeHeartbeat(this.redis, cfg.queue.prefix, hb, cfg.heartbeatSeconds * 3000);
      this.lastBeatError = '';
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.lastBeatError) this.host.log.warn({ err: msg }, 'heartbeat: Redis unreachable');
      this.lastBeatError = msg;
    }
  }
}
