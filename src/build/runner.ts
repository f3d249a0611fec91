// The one interface every way of running a build step implements: a container engine (Podman or
// Docker through the Docker Engine API) or, only when the config asks for it, host processes.

/** A host directory made visible to the build; source trees are always mounted read-only. */
export interface Mount {
  hostPath: string;
  /** Where a container sees it; the local runner uses hostPath instead (see Runner.pathIn). */
  containerPath: string;
  readOnly: boolean;
}

export interface RunLimits {
  memoryMb: number;
  pids: number;
  cpus: number;
  timeoutMs: number;
}

export interface RunSpec {
  image: string;
  /** Executed directly, never through a shell: nothing from a mail is ever parsed as shell text. */
  argv: string[];
  /** Path as the command sees it (use Runner.pathIn). */
  workdir: string;
  mounts: Mount[];
  /** The ONLY environment the step gets besides the image's own: nothing of the bot's leaks in. */
  env: Record<string, string>;
  limits: RunLimits;
  /** The step's output (stdout and stderr interleaved) is appended here. */
  logPath: string;
  /** Above this, the head and the tail are kept and the log says how much was dropped. */
  logCapBytes: number;
  signal?: AbortSignal | undefined;
}

export interface RunOutcome {
  /** null when the step never ran or was killed before it could exit. */
  exitCode: number | null;
  timedOut: boolean;
  oomKilled: boolean;
  durationMs: number;
  /** The bot's own failure (engine down, image missing, aborted): never the series' fault. */
  botError: string | null;
  logTruncated: boolean;
}

export interface Runner {
  readonly kind: 'container' | 'local';
  /** false for the local runner: no network namespace, no read-only source, no memory limit. */
  readonly isolated: boolean;
  /** The path a step must use for a mount: the container path, or the host path when run locally. */
  pathIn(mount: Mount): string;
  run(spec: RunSpec): Promise<RunOutcome>;
  /** At a daemon's or worker's start: remove what it left behind when killed (its labelled containers). */
  removeLeftovers?(): Promise<number>;
  /**
   * The image's content ID (a rebuilt image under the same name has a new one); null when the
   * image is not there. Absent for the local runner, whose compilers have no image.
   */
  imageId?(image: string): Promise<string | null>;
}

export function botFailure(botError: string, durationMs = 0): RunOutcome {
  return { exitCode: null, timedOut: false, oomKilled: false, durationMs, botError, logTruncated: false };
}
