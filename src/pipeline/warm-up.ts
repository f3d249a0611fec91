import { join } from 'node:path';
import type { Config } from '../config/load.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import { runMatrix } from '../build/matrix.ts';
import { imageFor, removeRunDirs, snapshotKey } from '../build/toolchain-build.ts';
import type { BuildStatus } from '../contract.ts';
import type { Runner } from '../build/runner.ts';
import { SnapshotStore } from '../build/snapshots.ts';
import type { MirrorConfig } from '../git/mirror.ts';
import { gitRaw } from '../git/run.ts';
import type { Logger } from '../log.ts';
import { matrixInputFor, worktreePoolFor } from './matrix-input.ts';

// A warm-up builds the trusted baseline of a mirror commit before any series needs it: staging
// moves several times a day, and a series on a base nobody built waits for the base's builds
// first. The snapshot it leaves is the one a check would have made (same matrix input).

export interface WarmUpInput {
  config: Config;
  runner: Runner;
  mirror: MirrorConfig;
  commit: string;
  toolchains: ToolchainConfig[];
  log: Logger;
  /** Asked before each toolchain: a series check waiting ends the warm-up there. */
  shouldYield: () => boolean;
  signal?: AbortSignal | undefined;
}

export interface WarmUpOutcome {
  built: { toolchain: string; status: BuildStatus; durationMs: number }[];
  /** Toolchains left for later because a check was waiting. */
  yielded: string[];
}

/** The toolchains that have no snapshot of `commit` yet (as a container runner keys them). */
export async function toolchainsToWarm(
  config: Config,
  runner: Runner,
  commit: string,
  toolchains: ToolchainConfig[],
): Promise<ToolchainConfig[]> {
  // The local runner keys snapshots by source path: a warm-up's slot is no check's, skip it.
  if (runner.kind === 'local') return [];
  const store = new SnapshotStore(config.workDir);
  const todo: ToolchainConfig[] = [];
  for (const t of toolchains) {
    const { key } = await snapshotKey(config.build.recipe, t, imageFor(t), runner, '');
    if (store.find(t.name, commit, key) === null) todo.push(t);
  }
  return todo;
}

export async function warmUp(input: WarmUpInput): Promise<WarmUpOutcome> {
  const { config, signal } = input;
  const gitTimeoutMs = config.repo.gitTimeoutSeconds * 1000;
  const outcome: WarmUpOutcome = { built: [], yielded: [] };
  const todo = await toolchainsToWarm(config, input.runner, input.commit, input.toolchains);
  if (todo.length === 0) return outcome;
  const { pool, poolKey } = worktreePoolFor(config, input.mirror, gitTimeoutMs);
  const wt = await pool.acquire(signal);
  const slot = `${poolKey}-wt-${wt.slot}`;
  try {
    await gitRaw(wt.path, ['checkout', '-q', '--detach', input.commit], { signal, timeoutMs: gitTimeoutMs });
    for (const [i, toolchain] of todo.entries()) {
      if (input.shouldYield()) {
        outcome.yielded = todo.slice(i).map((t) => t.name);
        break;
      }
      const [b] = await runMatrix(
        matrixInputFor({
          config,
          runner: input.runner,
          toolchains: [toolchain],
          slot,
          phase: 'baseline',
          sourceDir: wt.path,
          commit: input.commit,
          trusted: true,
          logDir: join(config.workDir, 'warm-up'),
          confirmFailures: false,
          gitTimeoutMs,
          signal,
          warmUp: true,
        }),
      );
      if (b) outcome.built.push({ toolchain: b.toolchain, status: b.status, durationMs: b.durationMs });
    }
  } finally {
    removeRunDirs(config.workDir, todo, slot);
    wt.release();
  }
  return outcome;
}
