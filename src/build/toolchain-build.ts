import { join } from 'node:path';
import type { BuildStatus } from '../contract.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import type { BuildMode } from './clean-rule.ts';
import { configHash, type RecipeConfig, type RecipeOutcome, type StepName } from './recipe.ts';
import type { RunLimits, Runner } from './runner.ts';
import { removeTree } from './snapshots.ts';

// What one toolchain's build is and where its files go: the matrix (matrix.ts) makes them,
// the pipeline reads them.

export type Phase = 'baseline' | 'series';

/** What the checks stage gets for a finished build; its return value is stored as opaque JSON. */
export interface FinishedBuild {
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

/** Where a later build may start from: a trusted snapshot, or this run's own baseline dir. */
export interface BuildStart {
  dir: string;
  /** The commit the dir was built from. */
  commit: string;
  /** How long this toolchain's last build from an empty dir took. */
  cleanDurationMs: number;
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
 * The snapshot key: the same configuration built by the same image (its ID), and for the local
 * runner the same source path too (its builds see host paths, and dependency files name them;
 * containers always see /src).
 */
export async function snapshotKey(
  recipe: RecipeConfig,
  toolchain: ToolchainConfig,
  image: string,
  runner: Runner,
  sourceDir: string,
): Promise<{ key: string; imageId: string | null }> {
  // An image the engine cannot show now keys no stored snapshot: a null here would be the key
  // of a listci from before image IDs, whose snapshots may hold another image's objects.
  const imageId = runner.imageId ? ((await runner.imageId(image)) ?? 'unavailable') : null;
  const locality = runner.kind === 'local' ? sourceDir : null;
  return { key: configHash(recipe, toolchain, image, { locality, imageId }), imageId };
}

/** One line per outcome: the status a report shows. A bot problem is never the series' fault. */
export function statusOf(r: RecipeOutcome): BuildStatus {
  if (r.configError || r.outcome.botError) return 'error';
  if (r.outcome.timedOut) return 'timeout';
  if (r.outcome.oomKilled) return 'error';
  return r.outcome.exitCode === 0 ? 'pass' : 'fail';
}

export function botErrorOf(r: RecipeOutcome, limits: RunLimits): string | null {
  if (r.configError) return r.configError;
  if (r.outcome.botError) return r.outcome.botError;
  if (r.outcome.oomKilled) return `build ran out of memory (limit ${limits.memoryMb} MB) during ${r.step}`;
  return null;
}
