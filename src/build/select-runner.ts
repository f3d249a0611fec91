import type { RawConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { ContainerRunner, findSocket } from './engine.ts';
import { LocalRunner } from './local.ts';
import type { Runner } from './runner.ts';

/** build.runner → a Runner. Podman and Docker share the Engine API path; local only when asked for. */
export function runnerFromConfig(build: RawConfig['build'], log?: Logger): Runner {
  if (build.runner === 'local') return new LocalRunner(log);
  return new ContainerRunner({ socketPath: findSocket(build.socket) });
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
