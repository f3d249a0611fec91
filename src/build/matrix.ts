import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildStatus } from '../contract.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import { targetArch } from './arch.ts';
import { chooseBuildMode, type BuildMode } from './clean-rule.ts';
import { watchBuildDir, type Exceeded } from './dir-watch.ts';
import { assertRoom, WorkDirFullError } from './disk-space.ts';
import { runRecipe, type RecipeConfig, type RecipeOutcome, type StepName } from './recipe.ts';
import type { RunLimits, Runner } from './runner.ts';
import { copyTree, removeTree, SnapshotStore } from './snapshots.ts';
import {
  botErrorOf,
  imageFor,
  runBuildDir,
  snapshotKey,
  statusOf,
  type BuildStart,
  type FinishedBuild,
  type Phase,
  type ProgressEvent,
  type ToolchainBuild,
} from './toolchain-build.ts';

// Runs one phase (the baseline, then the series) of a run across the toolchains, at most
// `parallel` at once.
//
// A baseline of a commit from the mirror is trusted: it is built in a scratch dir and kept as a
// snapshot (snapshots.ts), the cache of baselines. Every other build (the series, per-patch
// builds, a base with another series applied under it) starts in a fresh copy of a snapshot,
// or of this run's own baseline, in
//   workDir/builds/<toolchain>/<slot>/<phase>
// and that copy is thrown away once the checks have read it. A build starts from a copy only
// when make can be trusted to get there (clean-rule.ts); otherwise from an empty dir.

export interface MatrixInput {
  runner: Runner;
  recipe: RecipeConfig;
  toolchains: ToolchainConfig[];
  workDir: string;
  /** Worktree slot the source comes from: names this run's own build dirs. */
  slot: string;
  phase: Phase;
  /** Host path of the checked-out tree for this phase. */
  sourceDir: string;
  /** The commit checked out in sourceDir. */
  commit: string;
  /**
   * Baseline phase: the commit is upstream's, from the mirror, so its build may become a
   * snapshot. false when another series was applied under this one (Based-on).
   */
  trusted: boolean;
  /** Series phase: the baseline builds of this run, which each toolchain's build starts from. */
  startFrom?: ToolchainBuild[] | undefined;
  /**
   * The paths that differ between `from` and the checkout, made newer than anything built
   * before (git/changes.ts touchChangedSince): what an incremental build needs to be right.
   */
  changedSince: (from: string) => Promise<string[]>;
  parallel: number;
  makeJobs: number;
  limits: RunLimits;
  logCapBytes: number;
  /** Where logs go: logDir/<phase>-<toolchain>.log */
  logDir: string;
  check?: ((c: FinishedBuild) => Promise<unknown>) | undefined;
  /** Series phase: rebuild a failed incremental build from an empty build dir before the series is blamed. */
  confirmFailures?: boolean | undefined;
  /**
   * A failure the log already explains deterministically (Xen's own duplicate-symbol check)
   * needs no clean rebuild to confirm it: that rebuild is a cold build, minutes on Xen.
   */
  failureExplained?: ((logText: string) => boolean) | undefined;
  /** Snapshots kept per toolchain. */
  snapshotsKept?: number | undefined;
  /** A build dir past this size is stopped. */
  maxBuildDirBytes?: number | undefined;
  /** A series build gets factor × the last clean build's time, at least floorMs (within limits.timeoutMs). */
  seriesTimeout?: { factor: number; floorMs: number } | undefined;
  /** ccache size per toolchain in MB (workDir/ccache/<toolchain>); 0 or absent: no cache. */
  ccacheMb?: number | undefined;
  /**
   * Whether incremental builds use the cache too (default: both). Clean builds always do. When
   * make only recompiles what changed, the cache is all misses: for a baseline that fills it,
   * worth it only where nobody waits; for a series, never (it may not write).
   */
  ccacheOnIncremental?: { baseline: boolean; series: boolean } | undefined;
  onProgress?: ((e: ProgressEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export async function runMatrix(input: MatrixInput): Promise<ToolchainBuild[]> {
  const started = Date.now();
  const results: ToolchainBuild[] = new Array<ToolchainBuild>(input.toolchains.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < input.toolchains.length) {
      const i = next++;
      results[i] = await buildOne(input, input.toolchains[i]!, started);
    }
  };
  for (const t of input.toolchains) {
    input.onProgress?.({ toolchain: t.name, phase: input.phase, state: 'queued', elapsedMs: 0 });
  }
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(input.parallel, input.toolchains.length)) }, worker),
  );
  return results;
}

const DEFAULT_MAX_BUILD_DIR = 8192 * 1024 * 1024;

export async function buildOne(
  input: MatrixInput,
  toolchain: ToolchainConfig,
  matrixStart = Date.now(),
): Promise<ToolchainBuild> {
  const image = imageFor(toolchain);
  const { key, imageId } = await snapshotKey(input.recipe, toolchain, image, input.runner, input.sourceDir);
  const store = new SnapshotStore(input.workDir);
  const snapshotting = input.phase === 'baseline' && input.trusted;
  const progress = (
    e:
      | { state: 'cached' }
      | { state: 'start'; mode: BuildMode }
      | { state: 'clean-rebuild' }
      | { state: 'step'; step: StepName }
      | { state: 'done'; status: BuildStatus },
  ) =>
    input.onProgress?.({
      toolchain: toolchain.name,
      phase: input.phase,
      elapsedMs: Date.now() - matrixStart,
      ...e,
    } as ProgressEvent);
  const emitDone = (b: ToolchainBuild): ToolchainBuild => {
    progress({ state: 'done', status: b.status });
    return b;
  };

  if (snapshotting) {
    const snap = store.find(toolchain.name, input.commit, key);
    if (snap) {
      progress({ state: 'cached' });
      const cached = snap.meta.result as ToolchainBuild;
      return emitDone({
        ...cached,
        cached: true,
        durationMs: 0,
        arch: targetArch(toolchain),
        mode: null,
        stopped: null,
        buildDir: snap.dir,
        start: { dir: snap.dir, commit: snap.meta.commit, cleanDurationMs: snap.meta.cleanDurationMs },
      });
    }
  }

  const { start, changed } = await startingPoint(input, toolchain.name, key, store);
  const mode = chooseBuildMode(start, changed, {
    subdir: input.recipe.subdir,
    what: input.phase === 'series' ? 'the series' : 'the base',
  });
  progress({ state: 'start', mode });

  const buildDir = runBuildDir(input.workDir, toolchain.name, input.slot, input.phase);
  const fresh = async (from: BuildStart | null): Promise<void> => {
    removeTree(buildDir);
    if (from) await copyTree(from.dir, buildDir);
    else mkdirSync(buildDir, { recursive: true });
  };
  await fresh(mode.clean ? null : start);

  mkdirSync(input.logDir, { recursive: true });
  const logPath = join(input.logDir, `${input.phase}-${toolchain.name}.log`);
  writeFileSync(logPath, `== listci: ${mode.reason}\n`);

  const { limits, relativeLimit } = seriesLimits(input, start);

  let exceeded: Exceeded | null = null;
  const stopper = new AbortController();
  const watch = watchBuildDir(buildDir, {
    maxBytes: input.maxBuildDirBytes ?? DEFAULT_MAX_BUILD_DIR,
    workDir: input.workDir,
    onExceeded: (e) => {
      exceeded = e;
      stopper.abort();
    },
  });
  const signal = input.signal ? AbortSignal.any([input.signal, stopper.signal]) : stopper.signal;
  const once = (configured: boolean): Promise<RecipeOutcome> =>
    runRecipe({
      runner: input.runner,
      recipe: input.recipe,
      toolchain,
      image,
      sourceDir: input.sourceDir,
      buildDir,
      configured,
      makeJobs: input.makeJobs,
      limits,
      logPath,
      logCapBytes: input.logCapBytes,
      signal,
      onStep: (step) => progress({ state: 'step', step }),
      compilerCache:
        input.ccacheMb && (!configured || (input.ccacheOnIncremental?.[input.phase] ?? true))
          ? {
              hostDir: join(input.workDir, 'ccache', toolchain.name),
              writable: snapshotting,
              maxMb: input.ccacheMb,
              imageId,
            }
          : null,
    });

  let keepDir = false;
  try {
    let startedMs = Date.now();
    let r = await once(!mode.clean);
    let confirmedClean: boolean | null = null;
    let duration = r.durationMs;
    // An incremental build can fail for reasons of its own (stale objects after a rename): blame
    // the series only if it fails from an empty build dir too.
    if (
      input.phase === 'series' &&
      !mode.clean &&
      !exceeded &&
      input.confirmFailures &&
      statusOf(r) === 'fail' &&
      !input.failureExplained?.(readFileSync(logPath, 'utf8'))
    ) {
      progress({ state: 'clean-rebuild' });
      await fresh(null);
      writeFileSync(
        logPath,
        `\n== listci: the incremental build failed; rebuilding from an empty build dir to confirm\n`,
        {
          flag: 'a',
        },
      );
      startedMs = Date.now();
      r = await once(false);
      duration += r.durationMs;
      confirmedClean = statusOf(r) === 'fail';
    }

    await watch.checkNow();
    const logText = readFileSync(logPath, 'utf8');
    const stop = exceeded as Exceeded | null;
    if (stop?.kind === 'disk')
      throw new WorkDirFullError(
        `${input.phase} build under ${toolchain.name}: no space left on device: ${stop.message}`,
      );
    let status = statusOf(r);
    let botError = botErrorOf(r, input.limits);
    let stopped: string | null = null;
    if (stop) {
      // Past the size limit: the series' doing; a baseline that big means the limit is wrong.
      writeFileSync(logPath, `\n== listci: ${stop.message}\n`, { flag: 'a' });
      stopped = stop.message;
      if (input.phase === 'series') {
        status = 'fail';
        botError = null;
      } else {
        status = 'error';
        botError = `baseline: ${stop.message}`;
      }
    } else if (status === 'timeout' && relativeLimit) {
      stopped = relativeLimit;
      writeFileSync(logPath, `\n== listci: ${relativeLimit}\n`, { flag: 'a' });
    }
    // Out of disk space is listci's failure, not the series' (nor the base's): the attempt is
    // dropped before anything is judged or cached.
    if (status !== 'pass' && !stop)
      assertRoom(
        input.workDir,
        `${input.phase} build under ${toolchain.name}`,
        `${botError ?? ''}\n${logText.slice(-65536)}`,
      );
    const judged = status === 'pass' || status === 'fail';
    const check =
      input.check && judged && !stop
        ? await input.check({
            toolchain: toolchain.name,
            phase: input.phase,
            buildDir,
            image: input.recipe.image,
            intermediateImage: input.recipe.intermediateImage,
            logText,
            status,
            startedMs,
          })
        : null;
    const cleanDurationMs =
      mode.clean || confirmedClean !== null ? r.durationMs : (start?.cleanDurationMs ?? 0);
    const result: ToolchainBuild = {
      toolchain: toolchain.name,
      arch: targetArch(toolchain),
      phase: input.phase,
      status,
      durationMs: duration,
      cached: false,
      botError,
      logPath,
      buildDir,
      recipe: r,
      confirmedClean,
      mode,
      stopped,
      start: null,
      check,
    };
    // Only a judged baseline is worth keeping; a bot error must be retried next time.
    if (input.phase !== 'baseline' || !judged) return emitDone(result);
    if (!snapshotting) {
      // Another series is applied under this one: usable for this run's series build, never kept.
      keepDir = true;
      return emitDone({ ...result, start: { dir: buildDir, commit: input.commit, cleanDurationMs } });
    }
    const snap = store.save(buildDir, {
      toolchain: toolchain.name,
      commit: input.commit,
      key,
      createdAt: new Date().toISOString(),
      cleanDurationMs,
      result: { ...result, start: null },
    });
    store.evict(toolchain.name, input.snapshotsKept ?? 3, snap.dir);
    return emitDone({
      ...result,
      buildDir: snap.dir,
      start: { dir: snap.dir, commit: input.commit, cleanDurationMs },
    });
  } finally {
    watch.stop();
    // The series' copy (or a baseline that cannot be kept) is gone once the checks have read it.
    if (!keepDir) removeTree(buildDir);
  }
}

/**
 * Where a build starts: this run's baseline for the series; otherwise the newest trusted
 * snapshot whose commit this tree knows (a work dir can hold snapshots of other trees: 4.17
 * and master). `changed`: the paths that differ from it, already made newer.
 */
async function startingPoint(
  input: MatrixInput,
  toolchain: string,
  key: string,
  store: SnapshotStore,
): Promise<{ start: BuildStart | null; changed: string[] }> {
  if (input.phase === 'series') {
    const start = input.startFrom?.find((b) => b.toolchain === toolchain)?.start ?? null;
    return { start, changed: start ? await input.changedSince(start.commit) : [] };
  }
  for (const c of store.candidates(toolchain, key).slice(0, 3)) {
    const diff = await input.changedSince(c.meta.commit).catch(() => null);
    if (diff === null) continue;
    return {
      start: { dir: c.dir, commit: c.meta.commit, cleanDurationMs: c.meta.cleanDurationMs },
      changed: diff,
    };
  }
  return { start: null, changed: [] };
}

/**
 * A series gets a time limit relative to what a clean build of this toolchain takes: a
 * Makefile that loops must not hold every other series up for the whole configured limit.
 */
function seriesLimits(
  input: MatrixInput,
  start: BuildStart | null,
): { limits: RunLimits; relativeLimit: string | null } {
  const limits = input.limits;
  if (input.phase !== 'series' || !start || start.cleanDurationMs <= 0 || !input.seriesTimeout)
    return { limits, relativeLimit: null };
  const { factor, floorMs } = input.seriesTimeout;
  const ms = Math.max(floorMs, factor * start.cleanDurationMs);
  if (ms >= limits.timeoutMs) return { limits, relativeLimit: null };
  return {
    limits: { ...limits, timeoutMs: ms },
    relativeLimit: `the build ran past ${Math.round(ms / 1000)} s (${factor}× the ${Math.round(start.cleanDurationMs / 1000)} s a clean build of the base took, at least ${Math.round(floorMs / 1000)} s) and was stopped`,
  };
}
