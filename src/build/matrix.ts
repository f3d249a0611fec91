import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildStatus } from '../contract.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import { assertRoom } from './disk-space.ts';
import { configHash, runRecipe, type RecipeConfig, type RecipeOutcome, type StepName } from './recipe.ts';
import type { RunLimits, Runner } from './runner.ts';

// Runs one phase (the baseline, then the series) of a run across the toolchains, at most
// `parallel` at once. Each toolchain keeps a persistent build dir per worktree slot
//   workDir/builds/<toolchain>/<slot>
// so that building the series right after its base only recompiles what the series touched.
// Baseline results are cached by (base commit, toolchain, config hash) in
//   workDir/cache/baseline/<commit>-<toolchain>-<hash>.json
// holding whatever the checks stage returned (opaque here).

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
  | { toolchain: string; phase: Phase; state: 'step'; step: StepName; elapsedMs: number }
  | { toolchain: string; phase: Phase; state: 'clean-rebuild'; elapsedMs: number }
  | { toolchain: string; phase: Phase; state: 'done'; status: BuildStatus; elapsedMs: number };

export interface MatrixInput {
  runner: Runner;
  recipe: RecipeConfig;
  toolchains: ToolchainConfig[];
  workDir: string;
  /** Worktree slot the source comes from: the build dir is reused per slot. */
  slot: string;
  phase: Phase;
  /** Host path of the checked-out tree for this phase. */
  sourceDir: string;
  /** The base commit: the baseline cache key (ignored for the series phase). */
  baseCommit: string;
  parallel: number;
  makeJobs: number;
  limits: RunLimits;
  logCapBytes: number;
  /** Where logs go: logDir/<phase>-<toolchain>.log */
  logDir: string;
  check?: ((c: CheckInput) => Promise<unknown>) | undefined;
  /** Series phase: rebuild a failed build from an empty build dir before the series is blamed. */
  confirmFailures?: boolean | undefined;
  /**
   * A failure the log already explains deterministically (Xen's own duplicate-symbol check)
   * needs no clean rebuild to confirm it: that rebuild is a cold build, minutes on Xen.
   */
  failureExplained?: ((logText: string) => boolean) | undefined;
  onProgress?: ((e: ProgressEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface ToolchainBuild {
  toolchain: string;
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
  check: unknown;
}

export function imageFor(toolchain: ToolchainConfig): string {
  return toolchain.image ?? `listci/${toolchain.name}`;
}

export function buildDirFor(workDir: string, toolchain: string, slot: string): string {
  return join(workDir, 'builds', toolchain, slot);
}

export function baselineCachePath(
  workDir: string,
  baseCommit: string,
  toolchain: string,
  hash: string,
): string {
  return join(workDir, 'cache', 'baseline', `${baseCommit}-${toolchain}-${hash}.json`);
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

/** Empties a build dir so the next build starts from nothing (the confirmation hook). */
export function cleanBuildDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
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

export async function buildOne(
  input: MatrixInput,
  toolchain: ToolchainConfig,
  matrixStart = Date.now(),
): Promise<ToolchainBuild> {
  const image = imageFor(toolchain);
  const hash = configHash(input.recipe, toolchain, image);
  const buildDir = buildDirFor(input.workDir, toolchain.name, input.slot);
  const cachePath = baselineCachePath(input.workDir, input.baseCommit, toolchain.name, hash);
  const emitDone = (b: ToolchainBuild): ToolchainBuild => {
    input.onProgress?.({
      toolchain: toolchain.name,
      phase: input.phase,
      state: 'done',
      status: b.status,
      elapsedMs: Date.now() - matrixStart,
    });
    return b;
  };

  if (input.phase === 'baseline' && existsSync(cachePath)) {
    const cached = JSON.parse(readFileSync(cachePath, 'utf8')) as ToolchainBuild;
    input.onProgress?.({
      toolchain: toolchain.name,
      phase: input.phase,
      state: 'cached',
      elapsedMs: Date.now() - matrixStart,
    });
    return emitDone({ ...cached, cached: true, durationMs: 0 });
  }

  mkdirSync(buildDir, { recursive: true });
  mkdirSync(input.logDir, { recursive: true });
  const logPath = join(input.logDir, `${input.phase}-${toolchain.name}.log`);
  writeFileSync(logPath, '');
  const once = (): Promise<RecipeOutcome> =>
    runRecipe({
      runner: input.runner,
      recipe: input.recipe,
      toolchain,
      image,
      sourceDir: input.sourceDir,
      buildDir,
      makeJobs: input.makeJobs,
      limits: input.limits,
      logPath,
      logCapBytes: input.logCapBytes,
      signal: input.signal,
      onStep: (step) =>
        input.onProgress?.({
          toolchain: toolchain.name,
          phase: input.phase,
          state: 'step',
          step,
          elapsedMs: Date.now() - matrixStart,
        }),
    });

  let startedMs = Date.now();
  let r = await once();
  let confirmedClean: boolean | null = null;
  let duration = r.durationMs;
  // An incremental build can fail for reasons of its own (stale objects after a rename): blame the
  // series only if it fails from an empty build dir too.
  if (
    input.phase === 'series' &&
    input.confirmFailures &&
    statusOf(r) === 'fail' &&
    !input.failureExplained?.(readFileSync(logPath, 'utf8'))
  ) {
    input.onProgress?.({
      toolchain: toolchain.name,
      phase: input.phase,
      state: 'clean-rebuild',
      elapsedMs: Date.now() - matrixStart,
    });
    cleanBuildDir(buildDir);
    const writeNote = `\n== listci: the incremental build failed; rebuilding from an empty build dir to confirm\n`;
    writeFileSync(logPath, writeNote, { flag: 'a' });
    startedMs = Date.now();
    r = await once();
    duration += r.durationMs;
    confirmedClean = statusOf(r) === 'fail';
  }

  const status = statusOf(r);
  const logText = readFileSync(logPath, 'utf8');
  // Out of disk space is listci's failure, not the series' (nor the base's): the attempt is
  // dropped before anything is judged or cached.
  if (status !== 'pass')
    assertRoom(
      input.workDir,
      `${input.phase} build under ${toolchain.name}`,
      `${botErrorOf(r, input.limits) ?? ''}\n${logText.slice(-65536)}`,
    );
  const check =
    input.check && (status === 'pass' || status === 'fail')
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
  const result: ToolchainBuild = {
    toolchain: toolchain.name,
    phase: input.phase,
    status,
    durationMs: duration,
    cached: false,
    botError: botErrorOf(r, input.limits),
    logPath,
    buildDir,
    recipe: r,
    confirmedClean,
    check,
  };
  // Only a judged baseline is worth reusing; a bot error must be retried next time.
  if (input.phase === 'baseline' && (status === 'pass' || status === 'fail')) {
    mkdirSync(join(input.workDir, 'cache', 'baseline'), { recursive: true });
    writeFileSync(`${cachePath}.tmp`, JSON.stringify(result));
    renameSync(`${cachePath}.tmp`, cachePath);
  }
  return emitDone(result);
}
