import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildStatus } from '../contract.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import { targetArch } from './arch.ts';
import { chooseBuildMode, type BuildMode } from './clean-rule.ts';
import { watchBuildDir, type Exceeded } from './dir-watch.ts';
import { assertRoom, WorkDirFullError } from './disk-space.ts';
import { configHash, runRecipe, type RecipeConfig, type RecipeOutcome, type StepName } from './recipe.ts';
import type { RunLimits, Runner } from './runner.ts';
import { copyTree, removeTree, SnapshotStore } from './snapshots.ts';

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

export type Phase = 'baseline' | 'series';

/** What the checks stage gets for a finished build; its return value is stored as opaque JSON. */
export interface CheckInput {
  toolchain: string;
  phase: Phase;
  buildDir: string;
  image: string;
  intermediateImage: string;
  logText: string;
  status: BuildStatus;
  /** When the build whose output this is started (ms since the epoch). */
  startedMs: number;
}

export type ProgressEvent =
  | { toolchain: string; phase: Phase; state: 'queued' | 'cached'; elapsedMs: number }
  | { toolchain: string; phase: Phase; state: 'start'; mode: BuildMode; elapsedMs: number }
  | { toolchain: string; phase: Phase; state: 'step'; step: StepName; elapsedMs: number }
  | { toolchain: string; phase: Phase; state: 'clean-rebuild'; elapsedMs: number }
  | { toolchain: string; phase: Phase; state: 'done'; status: BuildStatus; elapsedMs: number };

/** A progress event in words, as the CLI and the daemon's log both show it. */
export function progressWords(e: ProgressEvent): string {
  switch (e.state) {
    case 'step':
      return e.step;
    case 'done':
      return `done: ${e.status}`;
    case 'start':
      return e.mode.reason;
    default:
      return e.state;
  }
}

/** Where a later build may start from: a trusted snapshot, or this run's own baseline dir. */
export interface BuildStart {
  dir: string;
  /** The commit the dir was built from. */
  commit: string;
  /** How long this toolchain's last build from an empty dir took. */
  cleanDurationMs: number;
}

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
  check?: ((c: CheckInput) => Promise<unknown>) | undefined;
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
  onProgress?: ((e: ProgressEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface ToolchainBuild {
  toolchain: string;
  /** Xen's XEN_TARGET_ARCH of the toolchain. */
  arch: string;
  phase: Phase;
  status: BuildStatus;
  durationMs: number;
  cached: boolean;
  botError: string | null;
  logPath: string | null;
  buildDir: string;
  /** Where the recipe stopped and what the runner said; null when served from the cache. */
  recipe: RecipeOutcome | null;
  /** true: the failure was reproduced from an empty build dir; null: no confirmation was needed. */
  confirmedClean: boolean | null;
  /** Clean or incremental, and why; null when served from the cache. */
  mode: BuildMode | null;
  /** Why listci stopped the build (past the series' time or size limit); null when it ran its course. */
  stopped: string | null;
  /** What a later build starts from; null when this build left nothing usable. */
  start: BuildStart | null;
  check: unknown;
}

export function imageFor(toolchain: ToolchainConfig): string {
  return toolchain.image ?? `listci/${toolchain.name}`;
}

/** This run's own build dir for a toolchain and phase (never a snapshot). */
export function runBuildDir(workDir: string, toolchain: string, slot: string, phase: Phase): string {
  return join(workDir, 'builds', toolchain, slot, phase);
}

/** At the end of a run: its own build dirs go (snapshots stay). */
export function removeRunDirs(workDir: string, toolchains: ToolchainConfig[], slot: string): void {
  for (const t of toolchains) removeTree(join(workDir, 'builds', t.name, slot));
}

/**
 * The snapshot key: the same configuration, and for the local runner the same source path too
 * (its builds see host paths, and dependency files name them; containers always see /src).
 */
export function snapshotKey(
  recipe: RecipeConfig,
  toolchain: ToolchainConfig,
  image: string,
  runner: Runner,
  sourceDir: string,
): string {
  return configHash(recipe, toolchain, image, runner.kind === 'local' ? sourceDir : null);
}

/** One line per outcome: the status a report shows. A bot problem is never the series' fault. */
export function statusOf(r: RecipeOutcome): BuildStatus {
  if (r.configError || r.outcome.botError) return 'error';
  if (r.outcome.timedOut) return 'timeout';
  if (r.outcome.oomKilled) return 'error';
  return r.outcome.exitCode === 0 ? 'pass' : 'fail';
}

function botErrorOf(r: RecipeOutcome, limits: RunLimits): string | null {
  if (r.configError) return r.configError;
  if (r.outcome.botError) return r.outcome.botError;
  if (r.outcome.oomKilled) return `build ran out of memory (limit ${limits.memoryMb} MB) during ${r.step}`;
  return null;
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
  const key = snapshotKey(input.recipe, toolchain, image, input.runner, input.sourceDir);
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

  // Where it starts: this run's baseline for the series; otherwise the newest trusted snapshot
  // whose commit this tree knows (a work dir can hold snapshots of other trees: 4.17 and master).
  let start: BuildStart | null = null;
  let changed: string[] = [];
  if (input.phase === 'series') {
    start = input.startFrom?.find((b) => b.toolchain === toolchain.name)?.start ?? null;
    if (start) changed = await input.changedSince(start.commit);
  } else {
    for (const c of store.candidates(toolchain.name, key).slice(0, 3)) {
      const diff = await input.changedSince(c.meta.commit).catch(() => null);
      if (diff === null) continue;
      start = { dir: c.dir, commit: c.meta.commit, cleanDurationMs: c.meta.cleanDurationMs };
      changed = diff;
      break;
    }
  }
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

  // A series gets a time limit relative to what a clean build of this toolchain takes: a
  // Makefile that loops must not hold every other series up for the whole configured limit.
  let limits = input.limits;
  let relativeLimit: string | null = null;
  if (input.phase === 'series' && start && start.cleanDurationMs > 0 && input.seriesTimeout) {
    const { factor, floorMs } = input.seriesTimeout;
    const ms = Math.max(floorMs, factor * start.cleanDurationMs);
    if (ms < limits.timeoutMs) {
      limits = { ...limits, timeoutMs: ms };
      relativeLimit = `the build ran past ${Math.round(ms / 1000)} s (${factor}× the ${Math.round(start.cleanDurationMs / 1000)} s a clean build of the base took, at least ${Math.round(floorMs / 1000)} s) and was stopped`;
    }
  }

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
