import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { findSocket } from '../build/engine.ts';
import { imageFor } from '../build/toolchain-build.ts';
import type { Runner } from '../build/runner.ts';
import type { Config } from '../config/load.ts';
import { configSchema, type ToolchainConfig } from '../config/schema.ts';
import type { OfferedToolchain, WorkerConfig } from '../config/worker.ts';
import { ensureMirror, fetchCommit, fetchMirror, maintainMirror, type MirrorConfig } from '../git/mirror.ts';
import { resolveCommit } from '../git/run.ts';
import type { BuildJobPayload } from './job.ts';

// What a build host has: images (or compilers), its own mirrors of the upstreams its jobs
// name, and the config a job's check runs under, made of the daemon's rules and the host's
// limits.

/** The toolchain cannot be built on this host (its image is gone): the job goes elsewhere. */
export class ToolchainUnavailable extends Error {
  override name = 'ToolchainUnavailable';
  constructor(
    readonly toolchain: string,
    /** What is missing, in words ("image listci/gcc-12 not found …"). */
    readonly reason: string,
    worker: string,
  ) {
    super(`worker ${worker}: ${reason}`);
  }
}

/** Nothing can be built here now (the container engine does not answer). */
export class EngineUnavailable extends Error {
  override name = 'EngineUnavailable';
}

export type Probe = { have: string } | { missing: string };

/** The local runner's PATH (build/local.ts): the compilers a local build can find. */
const LOCAL_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

export class ToolchainProbe {
  private readonly docker: Docker | null;

  constructor(
    private readonly runner: Runner,
    socket: string | null,
  ) {
    this.docker = runner.kind === 'container' ? new Docker({ socketPath: findSocket(socket) }) : null;
  }

  /** The image (container runners) or compiler (local) the toolchain needs, if this host has it. */
  async probe(t: ToolchainConfig): Promise<Probe> {
    if (!this.docker) {
      const found = findExecutable(t.cc);
      return found ? { have: found } : { missing: `compiler ${t.cc} not found on this host` };
    }
    const image = imageFor(t);
    try {
      await this.docker.getImage(image).inspect();
      return { have: image };
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404)
        return { missing: `image ${image} not found (listci images build ${t.name})` };
      throw new EngineUnavailable(`the container engine does not answer: ${(e as Error).message}`);
    }
  }
}

function findExecutable(cmd: string): string | null {
  const candidates = cmd.includes('/') ? [cmd] : LOCAL_PATH.map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* not this one */
    }
  }
  return null;
}

/**
 * The toolchain a job builds with: the daemon's, with the image or compiler this host's
 * worker.yaml names for it (the same compiler under this host's name for it).
 */
export function effectiveToolchain(
  fromJob: ToolchainConfig,
  offered: OfferedToolchain | undefined,
): ToolchainConfig {
  return {
    ...fromJob,
    ...(offered?.image ? { image: offered.image } : {}),
    ...(offered?.cc ? { cc: offered.cc } : {}),
    ...(offered?.hostcc ? { hostcc: offered.hostcc } : {}),
  };
}

/**
 * What to look for at start, before any job says how the daemon builds the toolchain: the
 * image worker.yaml names, else listci/<name> (what `listci images build` makes); for the
 * local runner the compiler it names, else one called like the toolchain (gcc-12, clang-14).
 */
export function toolchainToProbe(o: OfferedToolchain): ToolchainConfig {
  return {
    name: o.name,
    image: o.image,
    cc: o.cc ?? o.name,
    hostcc: o.hostcc,
    makeArgs: [],
    configFragment: [],
  };
}

const MAINTAIN_MS = 24 * 3600_000;

/** One bare mirror per upstream URL under the work dir, each touched by one job at a time. */
export class Mirrors {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly maintained = new Map<string, number>();

  constructor(private readonly workDir: string) {}

  pathFor(url: string): string {
    const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
    return join(this.workDir, 'mirrors', `${key}.git`);
  }

  /**
   * The mirror of `url`, holding `commit`: made on first use, fetched when the commit is not
   * there yet (a staging that moved since), then asked for the commit itself (a base-commit
   * trailer the daemon fetched by id).
   */
  async withCommit(
    url: string,
    commit: string,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<MirrorConfig> {
    const mirror: MirrorConfig = { url, path: this.pathFor(url), timeoutMs };
    return this.serialized(mirror.path, async () => {
      const call = { signal, timeoutMs };
      await ensureMirror(mirror, call);
      if (!(await resolveCommit(mirror.path, commit, call))) {
        await fetchMirror(mirror, { ...call, maxAgeSeconds: 0 });
        if (!(await resolveCommit(mirror.path, commit, call)) && !(await fetchCommit(mirror, commit, call)))
          throw new Error(`base commit ${commit} is not in ${url}, as this worker fetches it`);
      }
      // Commits `git am` made for long-gone jobs pile up in a mirror: pruned once a day.
      const last = this.maintained.get(mirror.path);
      if (last === undefined) this.maintained.set(mirror.path, Date.now());
      else if (Date.now() - last > MAINTAIN_MS) {
        await maintainMirror(mirror, call);
        this.maintained.set(mirror.path, Date.now());
      }
      return mirror;
    });
  }

  private serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(key) ?? Promise.resolve();
    const run = before.then(fn, fn);
    this.locks.set(
      key,
      run.catch(() => undefined),
    );
    return run;
  }
}

/**
 * The config one job's check runs under: the daemon's rules from the job, this host's limits
 * and caches from worker.yaml, and one toolchain. No database, mail or web: a worker has none.
 */
export function jobConfig(
  w: WorkerConfig,
  payload: BuildJobPayload,
  mirror: MirrorConfig,
  toolchain: ToolchainConfig,
): Config {
  const { gitTimeoutSeconds, ...rules } = payload.build;
  const raw = configSchema.parse({
    workDir: w.workDir,
    database: join(w.workDir, 'no-database'),
    repo: {
      url: payload.repoUrl,
      mirror: mirror.path,
      worktrees: w.concurrency,
      gitTimeoutSeconds,
      warmUp: false,
    },
    build: { ...w.build, ...rules, parallel: 1, toolchains: [toolchain] },
  });
  return { ...raw, source: w.source, baseDir: w.baseDir };
}

/** A job's own log dir on the worker; emptied when its result is sent. */
export function jobLogDir(workDir: string, jobId: string): string {
  return join(workDir, 'logs', jobId.replace(/[^A-Za-z0-9._-]/g, '_'));
}
