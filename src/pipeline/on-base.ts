import { join } from 'node:path';
import type { Config } from '../config/load.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import type { ApplyResult, BuildReport } from '../contract.ts';
import { runMatrix } from '../build/matrix.ts';
import { removeRunDirs, type Phase, type ToolchainBuild } from '../build/toolchain-build.ts';
import type { Runner } from '../build/runner.ts';
import { assertRoom } from '../build/disk-space.ts';
import { applySeries } from '../git/apply.ts';
import type { BaseDecision } from '../git/base.ts';
import type { MirrorConfig } from '../git/mirror.ts';
import { changedPaths } from '../git/changes.ts';
import { targetArch, untouchedArch } from '../build/arch.ts';
import { gitRaw } from '../git/run.ts';
import type { Logger } from '../log.ts';
import type { SeriesToCheck } from '../series/types.ts';
import type { CheckProgress } from './check.ts';
import { matrixInputFor, worktreePoolFor } from './matrix-input.ts';
import { attributeToPatches } from './per-patch.ts';
import { reportBuilds } from './report-builds.ts';
import { withToolchainVerdicts } from './verdict.ts';

// The second half of a check, once the base is chosen: worktree → apply → baseline build →
// series build → findings. The daemon runs it for every toolchain at once (runCheck); a
// `listci worker` runs it for the one toolchain of a queued job, on the base the daemon chose,
// so a series is judged the same way wherever it is built.

export interface OnBaseRequest {
  config: Config;
  series: SeriesToCheck;
  runner: Runner;
  /** The mirror the base commit is in; worktrees hang off it. */
  mirror: MirrorConfig;
  decision: BaseDecision;
  toolchains: ToolchainConfig[];
  /** Where this run's build logs go. */
  logDir: string;
  log: Logger;
  onProgress?: ((p: CheckProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** When the whole check started: progress events count from it. */
  startedAt?: Date | undefined;
}

export interface OnBaseOutcome {
  apply: ApplyResult;
  /** Baselines, then series builds, then the toolchains a rule skipped; verdicts filled in. Empty when the series did not apply. */
  builds: BuildReport[];
  /** When builds started and ended; null when the series did not apply. */
  buildWindow: { startedAt: string; finishedAt: string } | null;
}

export async function checkOnBase(input: OnBaseRequest): Promise<OnBaseOutcome> {
  const { config, series, signal, decision } = input;
  const startedMs = (input.startedAt ?? new Date()).getTime();
  const elapsed = () => Date.now() - startedMs;
  const timeoutMs = config.repo.gitTimeoutSeconds * 1000;

  const { pool, poolKey } = worktreePoolFor(config, input.mirror, timeoutMs);
  const wt = await pool.acquire(signal);
  try {
    if (wt.recovered.length)
      input.log.warn({ worktree: wt.path, recovered: wt.recovered }, 'worktree recovered');
    const applied = await applySeries(wt.path, decision.choice.commit, series.patches, {
      prerequisites: decision.prerequisites,
      signal,
      timeoutMs,
    });
    input.onProgress?.({ stage: 'apply', apply: applied.result, elapsedMs: elapsed() });
    if (!applied.result.ok) {
      const p = applied.result.failedPatch;
      assertRoom(
        config.workDir,
        `applying ${p ? `patch ${p.number}/${p.total}` : 'the series'}`,
        applied.result.error,
      );
      return { apply: applied.result, builds: [], buildWindow: null };
    }

    const seriesTip = (await gitRaw(wt.path, ['rev-parse', 'HEAD'], { signal })).trim();
    const buildStart = new Date().toISOString();
    const slot = `${poolKey}-wt-${wt.slot}`;
    const changed = await changedPaths(wt.path, applied.baseTip, seriesTip, { signal, timeoutMs });
    const skipped = new Map<string, string>();
    if (config.build.skipUntouchedArch)
      for (const t of input.toolchains) {
        const why = untouchedArch(changed, targetArch(t), config.build.recipe.subdir);
        if (why) skipped.set(t.name, why);
      }
    const toBuild = input.toolchains.filter((t) => !skipped.has(t.name));
    const buildAt = async (
      name: Phase,
      sourceCommit: string,
      startFrom: ToolchainBuild[] = [],
      toolchains = toBuild,
      logDir = input.logDir,
    ) => {
      await gitRaw(wt.path, ['checkout', '-q', '--detach', sourceCommit], { signal, timeoutMs });
      return runMatrix(
        matrixInputFor({
          config,
          runner: input.runner,
          toolchains,
          slot,
          phase: name,
          sourceDir: wt.path,
          commit: sourceCommit,
          // The base with another series applied under it (Based-on) is that series' code.
          trusted: name === 'baseline' && sourceCommit === decision.choice.commit,
          startFrom,
          logDir,
          confirmFailures: name === 'series' && logDir === input.logDir,
          gitTimeoutMs: timeoutMs,
          onProgress: (event) => input.onProgress?.({ stage: 'build', event, elapsedMs: elapsed() }),
          signal,
        }),
      );
    };
    // The baseline first (a trusted snapshot, usually cached), then the series in a fresh copy
    // of it, so the series build only recompiles what the series touched.
    const baseline = await buildAt('baseline', applied.baseTip);
    try {
      const seriesBuilds = await buildAt('series', seriesTip, baseline);
      let reports = [...reportBuilds(baseline, seriesBuilds), ...skippedReports(input.toolchains, skipped)];
      if (config.build.perPatch && applied.commits.length > 1) {
        reports = await attributeToPatches(reports, baseline, applied.commits, async (commit, names, m) =>
          buildAt(
            'series',
            commit,
            baseline,
            toBuild.filter((t) => names.includes(t.name)),
            join(input.logDir, `patch-${m}`),
          ),
        );
      }
      return {
        apply: applied.result,
        builds: withToolchainVerdicts(reports),
        buildWindow: { startedAt: buildStart, finishedAt: new Date().toISOString() },
      };
    } finally {
      // A baseline with a prerequisite series under it was this run's alone.
      removeRunDirs(config.workDir, input.toolchains, slot);
    }
  } finally {
    wt.release();
  }
}

/** The series builds a rule left out, saying why, so a maintainer can read it. */
function skippedReports(toolchains: ToolchainConfig[], skipped: Map<string, string>): BuildReport[] {
  return toolchains
    .filter((t) => skipped.has(t.name))
    .map((t) => ({
      toolchain: t.name,
      arch: targetArch(t),
      phase: 'series',
      status: 'skipped',
      durationMs: 0,
      cached: false,
      botError: null,
      logPath: null,
      skipped: skipped.get(t.name)!,
      mode: null,
      stopped: null,
      duplicates: { new: [], preexisting: [] },
      fileCollisions: [],
      errors: [],
    }));
}
