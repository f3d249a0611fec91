import { join } from 'node:path';
import type { Config } from '../config/load.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import type { ApplyResult, BaseChoice, BuildReport, CheckResult, SeriesSummary } from '../contract.ts';
import { runMatrix } from '../build/matrix.ts';
import {
  removeRunDirs,
  type Phase,
  type ProgressEvent,
  type ToolchainBuild,
} from '../build/toolchain-build.ts';
import type { Runner } from '../build/runner.ts';
import { assertRoom } from '../build/disk-space.ts';
import { applySeries } from '../git/apply.ts';
import { chooseBase, NoBaseError } from '../git/base.ts';
import { ensureMirror, fetchMirror, type MirrorConfig } from '../git/mirror.ts';
import { changedPaths } from '../git/changes.ts';
import { targetArch, untouchedArch } from '../build/arch.ts';
import { gitRaw } from '../git/run.ts';
import type { Logger } from '../log.ts';
import type { SeriesToCheck } from '../series/types.ts';
import { VERSION } from '../version.ts';
import { matrixInputFor, worktreePoolFor } from './matrix-input.ts';
import { attributeToPatches } from './per-patch.ts';
import { reportBuilds } from './report-builds.ts';
import { decideVerdict, withToolchainVerdicts } from './verdict.ts';

// One check of one series: base → apply → baseline build → series build → findings → verdict.
// Plain data in (the series, the config), a CheckResult out. The caller (the CLI or the
// daemon) records it and replies; nothing here touches the database or sends mail.

export type CheckProgress =
  | { stage: 'mirror'; detail: string; elapsedMs: number }
  | { stage: 'base'; base: BaseChoice; elapsedMs: number }
  | { stage: 'apply'; apply: ApplyResult; elapsedMs: number }
  | { stage: 'build'; event: ProgressEvent; elapsedMs: number };

export interface CheckRequest {
  config: Config;
  series: SeriesToCheck;
  runner: Runner;
  /** Upstream and local mirror; the daemon's is config.repo, a contributor's is their own clone. */
  mirror: MirrorConfig;
  explicitBase?: string | null;
  resolveBasedOn?: (messageId: string) => Promise<SeriesToCheck | null>;
  toolchains: ToolchainConfig[];
  /** Where this run's build logs go. */
  logDir: string;
  log: Logger;
  onProgress?: (p: CheckProgress) => void;
  signal?: AbortSignal;
  /** When builds started and ended, for the run's per-stage timestamps. */
  onBuildWindow?: (w: { startedAt: string; finishedAt: string }) => void;
}

export async function runCheck(input: CheckRequest): Promise<CheckResult> {
  const startedAt = new Date();
  const elapsed = () => Date.now() - startedAt.getTime();
  const { config, series, signal } = input;
  const timeoutMs = config.repo.gitTimeoutSeconds * 1000;
  const result = (
    base: BaseChoice | null,
    apply: ApplyResult | null,
    builds: BuildReport[],
    override?: { summary: string },
  ): CheckResult => {
    const v = decideVerdict(apply, builds);
    return {
      listciVersion: VERSION,
      series: summarise(series),
      base,
      apply,
      builds,
      verdict: override ? 'error' : v.verdict,
      summary: override?.summary ?? v.summary,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
    };
  };

  // A full work dir would make the series look broken (see build/disk-space.ts): not now.
  assertRoom(config.workDir, 'before the check');
  await ensureMirror(input.mirror, { signal, timeoutMs });
  const fetched = await fetchMirror(input.mirror, {
    maxAgeSeconds: config.repo.fetchIntervalMinutes * 60,
    signal,
    timeoutMs,
  });
  input.onProgress?.({
    stage: 'mirror',
    detail: fetched.fetched ? 'fetched' : `fresh (${Math.round(fetched.ageSeconds)} s old)`,
    elapsedMs: elapsed(),
  });

  let decision;
  try {
    decision = await chooseBase(series, {
      mirror: input.mirror,
      repo: config.repo,
      explicitBase: input.explicitBase ?? null,
      resolveBasedOn: input.resolveBasedOn,
      signal,
      timeoutMs,
    });
  } catch (e) {
    if (e instanceof NoBaseError) return result(null, null, [], { summary: `error: ${e.message}` });
    throw e;
  }
  input.onProgress?.({ stage: 'base', base: decision.choice, elapsedMs: elapsed() });

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
      return result(decision.choice, applied.result, []);
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
      input.onBuildWindow?.({ startedAt: buildStart, finishedAt: new Date().toISOString() });
      return result(decision.choice, applied.result, withToolchainVerdicts(reports));
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

export function summarise(s: SeriesToCheck): SeriesSummary {
  const head = s.cover ?? s.patches[0];
  return {
    title: s.title,
    version: s.version,
    author: s.author,
    messageId: head?.messageId ?? null,
    patches: s.patches.map((p) => ({ number: p.number, subject: p.subject, messageId: p.messageId })),
    complete: s.missing.length === 0,
    missing: s.missing,
  };
}
