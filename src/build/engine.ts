import { existsSync, lchownSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { CappedLog } from './log-cap.ts';
import { botFailure, type Mount, type RunOutcome, type RunSpec, type Runner } from './runner.ts';

// Podman (`podman system service`) and Docker speak the same Engine API, so one code path serves both.

/** build.socket, else $DOCKER_HOST (unix://), else podman's then docker's well-known sockets. */
export function findSocket(configured: string | null, env: NodeJS.ProcessEnv = process.env): string {
  if (configured) return configured.replace(/^unix:\/\//, '');
  const fromEnv = env.DOCKER_HOST;
  if (fromEnv?.startsWith('unix://')) return fromEnv.slice('unix://'.length);
  for (const p of ['/run/podman/podman.sock', '/var/run/docker.sock']) if (existsSync(p)) return p;
  return '/run/podman/podman.sock';
}

export interface EngineOptions {
  socketPath: string;
  /** uid:gid the build runs as; writable mounts are chowned to it. Never root. */
  uid?: number;
  gid?: number;
  /** Size of the tmpfs on /tmp inside the container. */
  tmpMb?: number;
  /**
   * Who starts its build containers (label org.listci.owner): `daemon`, `worker:NAME`, `check`.
   * removeLeftovers only removes its own, so a worker's start does not kill the builds of another
   * worker or daemon on the same engine.
   */
  owner?: string;
}

const BUILD_LABEL = 'org.listci.build';
const OWNER_LABEL = 'org.listci.owner';

export class ContainerRunner implements Runner {
  readonly kind = 'container' as const;
  readonly isolated = true;
  private readonly docker: Docker;
  private readonly uid: number;
  private readonly gid: number;

  constructor(private readonly opts: EngineOptions) {
    this.docker = new Docker({ socketPath: opts.socketPath });
    this.uid = opts.uid ?? 1000;
    this.gid = opts.gid ?? this.uid;
    if (this.uid === 0) throw new Error('container builds never run as root: set a non-zero uid');
  }

  pathIn(mount: Mount): string {
    return mount.containerPath;
  }

  private get owner(): string {
    return this.opts.owner ?? 'daemon';
  }

  /**
   * Build containers outlive a listci killed with -9; the same owner's next start removes them.
   * The daemon also takes those with no owner label, made by a listci from before owners.
   */
  async removeLeftovers(): Promise<number> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`${BUILD_LABEL}=1`] } });
    const mine = found.filter((c) => {
      const owner = c.Labels?.[OWNER_LABEL];
      return owner === this.owner || (owner === undefined && this.owner === 'daemon');
    });
    for (const c of mine)
      await this.docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    return mine.length;
  }

  async run(spec: RunSpec): Promise<RunOutcome> {
    const started = Date.now();
    const since = (): number => Date.now() - started;
    if (spec.signal?.aborted) return botFailure('build aborted before it started');

    const missing = await this.checkImage(spec.image);
    if (missing) return botFailure(missing, since());
    for (const m of spec.mounts) if (!m.readOnly) ensureOwner(m.hostPath, this.uid, this.gid);

    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(this.createOptions(spec));
    } catch (e) {
      return botFailure(`cannot create container from ${spec.image}: ${errText(e)}`, since());
    }

    const log = new CappedLog(spec.logPath, spec.logCapBytes);
    let timedOut = false;
    let aborted = false;
    const kill = (): void => {
      container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, spec.limits.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    spec.signal?.addEventListener('abort', onAbort, { once: true });

    try {
      // The container idles and the step runs as an exec inside it, so the container (and its
      // memory cgroup) is still there when the step ends: that is how an OOM kill of a compiler
      // (make's child, not the container's first process) is seen at all.
      await container.start();
      const oomCounter = await oomCounterOf(container);
      const exec = await container.exec({
        Cmd: spec.argv,
        WorkingDir: spec.workdir,
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        User: `${this.uid}:${this.gid}`,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      const stream = await exec.start({ hijack: true, stdin: false });
      const out = new PassThrough();
      out.on('data', (b: Buffer) => log.write(b));
      container.modem.demuxStream(stream, out, out);
      await new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
      });
      const execInfo = await exec.inspect().catch(() => null);
      const oomKilled = oomCounter() > 0;
      const exitCode = timedOut || aborted ? null : (execInfo?.ExitCode ?? null);
      return {
        exitCode,
        timedOut,
        oomKilled,
        durationMs: since(),
        botError: aborted
          ? 'build aborted'
          : exitCode === null && !timedOut
            ? `the container engine did not report the exit code of ${spec.argv[0] ?? 'the step'}`
            : log.writeError,
        logTruncated: log.truncated,
      };
    } catch (e) {
      return {
        ...botFailure(`container engine failed while running ${spec.image}: ${errText(e)}`, since()),
        timedOut,
      };
    } finally {
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      if (timedOut)
        log.write(`\n[listci: killed after the time limit of ${spec.limits.timeoutMs / 1000} s]\n`);
      log.close();
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  async imageId(image: string): Promise<string | null> {
    try {
      return (await this.docker.getImage(image).inspect()).Id;
    } catch {
      return null; // checkImage, before the build, says why in words
    }
  }

  /** A missing image is the bot's setup problem, and the message says how to fix it. */
  /** null when the image is there; otherwise why it cannot be used, in words for the operator. */
  async checkImage(image: string): Promise<string | null> {
    try {
      await this.docker.getImage(image).inspect();
      return null;
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 404)
        return `image ${image} not found: run listci images build (scripts/build-images.sh)`;
      return (
        `cannot reach the container engine at ${this.opts.socketPath}: ${errText(e)} ` +
        '(start it with scripts/start-podman-service.sh)'
      );
    }
  }

  private createOptions(spec: RunSpec): Docker.ContainerCreateOptions {
    const memory = spec.limits.memoryMb * 1024 * 1024;
    return {
      Image: spec.image,
      // Idles until the step (an exec) is done; the entrypoint is cleared so nothing else runs.
      Cmd: ['sleep', 'infinity'],
      Entrypoint: [],
      WorkingDir: spec.workdir,
      Env: [],
      User: `${this.uid}:${this.gid}`,
      Tty: false,
      OpenStdin: false,
      NetworkDisabled: true,
      Labels: { [BUILD_LABEL]: '1', [OWNER_LABEL]: this.owner },
      HostConfig: {
        NetworkMode: 'none',
        Binds: spec.mounts.map((m) => `${m.hostPath}:${m.containerPath}:${m.readOnly ? 'ro' : 'rw'}`),
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,exec,nosuid,size=${this.opts.tmpMb ?? 512}m` },
        Memory: memory,
        // Equal to Memory: no swap, so a runaway build is killed instead of thrashing the host.
        MemorySwap: memory,
        PidsLimit: spec.limits.pids,
        NanoCpus: Math.round(spec.limits.cpus * 1e9),
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Ulimits: [
          { Name: 'nofile', Soft: 4096, Hard: 4096 },
          { Name: 'nproc', Soft: spec.limits.pids, Hard: spec.limits.pids },
        ],
        AutoRemove: false,
      },
    };
  }
}

/**
 * The build runs as a non-root uid, so its writable dirs must belong to it (chown is cheap once
 * done). lchown: a symlink a build left must never hand its target to the build's uid.
 */
export function ensureOwner(dir: string, uid: number, gid: number): void {
  const st = lstatSync(dir);
  if (st.uid === uid && st.gid === gid) return;
  const walk = (p: string): void => {
    const s = lstatSync(p);
    if (s.uid !== uid || s.gid !== gid) lchownSync(p, uid, gid);
    if (s.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
}

/**
 * Reads how many processes the kernel OOM-killed in the container's memory cgroup (v1
 * memory.oom_control, v2 memory.events). The engine's own OOMKilled flag only covers the
 * container's first process, never a compiler that make started. Needs the engine on this host;
 * returns a reader that says 0 when the cgroup cannot be read.
 */
async function oomCounterOf(container: Docker.Container): Promise<() => number> {
  try {
    const info = await container.inspect();
    const pid = info.State.Pid;
    if (!pid) return () => 0;
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    const file = v1
      ? `/sys/fs/cgroup/memory${v1.split(':')[2] ?? ''}/memory.oom_control`
      : `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::'))?.slice(3) ?? ''}/memory.events`;
    return () => {
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
        return m ? Number(m[1]) : 0;
      } catch {
        return 0;
      }
    };
  } catch {
    return () => 0;
  }
}

function errText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s+/g, ' ').trim();
}
