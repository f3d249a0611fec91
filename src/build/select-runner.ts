import type { RawConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { ContainerRunner, findSocket } from './engine.ts';
import { LocalRunner } from './local.ts';
import type { Runner } from './runner.ts';

/**
 * build.runner → a Runner. Podman and Docker share the Engine API path; local only when asked for.
 * `owner` labels the build containers: see EngineOptions.owner.
 */
export function runnerFromConfig(build: RawConfig['build'], log?: Logger, owner = 'daemon'): Runner {
  if (build.runner === 'local') return new LocalRunner(log);
  return new ContainerRunner({ socketPath: findSocket(build.socket), owner });
}

/** The limits a build step gets, from the config's build section. */
export function limitsFromConfig(build: RawConfig['build']): {
  memoryMb: number;
  pids: number;
  cpus: number;
  timeoutMs: number;
} {
  return {
    memoryMb: build.memoryMb,
    pids: build.pids,
    cpus: build.cpus,
    timeoutMs: build.timeoutMinutes * 60_000,
  };
}

/** At a start: this owner's containers from before a kill -9; nobody else would remove them. */
export async function removeOwnLeftovers(runner: Runner, log: Logger): Promise<void> {
  const n = await runner.removeLeftovers?.().catch((e: unknown) => {
    log.warn({ err: e }, 'could not list leftover build containers');
    return 0;
  });
  if (n) log.warn({ containers: n }, 'removed build containers left by an earlier listci');
}
