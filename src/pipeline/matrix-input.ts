import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/load.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import type { MatrixInput } from '../build/matrix.ts';
import type { FinishedBuild, Phase, ProgressEvent, ToolchainBuild } from '../build/toolchain-build.ts';
import type { Runner } from '../build/runner.ts';
import { BUILD_IN_CONTAINER, SRC_IN_CONTAINER } from '../build/recipe.ts';
import { limitsFromConfig } from '../build/select-runner.ts';
import { checkBuildOutput } from '../checks/index.ts';
import { touchChangedSince } from '../git/changes.ts';
import type { MirrorConfig } from '../git/mirror.ts';
import { WorktreePool } from '../git/worktrees.ts';
import { findingsInTreePaths } from './tree-paths.ts';
import type { BuildFindings } from './report-builds.ts';
import { withoutStaleObjects } from './stale-objects.ts';

// What every build of a checked-out tree shares, whether a series' check or a warm-up of the
// base ahead of it: the same matrix settings and checks make the same snapshot either way.

/**
 * Worktrees belong to one mirror: `listci check --range` on a contributor's clone and the
 * daemon's list mirror can share a work dir, and a worktree of one cannot check out the other's
 * commits. Returns the pool and the key its build dirs are named by.
 */
export function worktreePoolFor(
  config: Config,
  mirror: MirrorConfig,
  timeoutMs: number,
): { pool: WorktreePool; poolKey: string } {
  const poolKey = createHash('sha256').update(resolve(mirror.path)).digest('hex').slice(0, 12);
  const pool = new WorktreePool({
    mirror: mirror.path,
    dir: join(config.workDir, 'worktrees', poolKey),
    size: config.repo.worktrees,
    timeoutMs,
  });
  return { pool, poolKey };
}

export interface TreeBuild {
  config: Config;
  runner: Runner;
  toolchains: ToolchainConfig[];
  /** `${poolKey}-wt-${slot}`: names this build's dirs. */
  slot: string;
  phase: Phase;
  /** The worktree, with `commit` checked out. */
  sourceDir: string;
  commit: string;
  trusted: boolean;
  startFrom?: ToolchainBuild[];
  logDir: string;
  confirmFailures: boolean;
  gitTimeoutMs: number;
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal | undefined;
  /** A warm-up of a moved branch: nobody waits for it. */
  warmUp?: boolean;
}

export function matrixInputFor(b: TreeBuild): MatrixInput {
  const { config, signal } = b;
  // Files a checkout rewrote but did not change are dated to long ago, so make skips them;
  // with toolchains building at once in one tree that is not safe, and make recompiles them.
  const backdateOthers = config.build.parallel === 1;
  return {
    runner: b.runner,
    recipe: config.build.recipe,
    toolchains: b.toolchains,
    workDir: config.workDir,
    slot: b.slot,
    phase: b.phase,
    sourceDir: b.sourceDir,
    commit: b.commit,
    trusted: b.trusted,
    startFrom: b.startFrom,
    changedSince: (from) =>
      touchChangedSince(b.sourceDir, from, b.commit, {
        signal,
        timeoutMs: b.gitTimeoutMs,
        backdateOthers,
      }),
    parallel: config.build.parallel,
    makeJobs: config.build.makeJobs,
    limits: limitsFromConfig(config.build),
    logCapBytes: config.build.logCapKb * 1024,
    logDir: b.logDir,
    check: checkIn(join(b.sourceDir, config.build.recipe.subdir), b.sourceDir),
    confirmFailures: b.confirmFailures,
    // Xen's --error-dup stopping the link is the same from an empty build dir.
    failureExplained: (log) => /^Duplicate symbol '/m.test(log),
    snapshotsKept: config.build.snapshotsPerToolchain,
    maxBuildDirBytes: config.build.maxBuildDirMb * 1024 * 1024,
    seriesTimeout: {
      factor: config.build.seriesTimeoutFactor,
      floorMs: config.build.seriesTimeoutFloorMinutes * 60_000,
    },
    ccacheMb: config.build.ccacheMb,
    // An incremental build only hits where make recompiles unchanged files (no backdating).
    // Otherwise warm-ups fill the cache while nobody waits: a check builds its own base only
    // when staging moved as the series came, and there the fill would delay its reply.
    ccacheOnIncremental: {
      baseline: !backdateOthers || b.warmUp === true || !config.repo.warmUp,
      series: !backdateOthers,
    },
    onProgress: b.onProgress,
    signal,
  };
}

/** The checks of one build of the tree checked out at `sourceDir`, paths as the tree names them. */
function checkIn(makeDir: string, sourceDir: string): (c: FinishedBuild) => Promise<BuildFindings> {
  return async (c) => {
    const out = await checkBuildOutput({
      buildDir: c.buildDir,
      image: c.image,
      intermediateImage: c.intermediateImage,
      logText: c.logText,
      failedSinceMs: c.status === 'fail' ? c.startedMs : null,
    });
    const current = (objects: string[]) =>
      withoutStaleObjects(objects, { sourceDir: makeDir, buildDir: c.buildDir });
    return findingsInTreePaths(
      {
        duplicates: out.duplicates.map((d) => ({ ...d, objects: current(d.objects) })),
        fileCollisions: out.fileCollisions.map((f) => ({ ...f, objects: current(f.objects) })),
        errors: out.errors,
        problems: out.problems,
      },
      {
        source: [sourceDir, realOrSelf(sourceDir), SRC_IN_CONTAINER],
        build: [c.buildDir, realOrSelf(c.buildDir), BUILD_IN_CONTAINER],
      },
    );
  };
}

// make's $(CURDIR) is the resolved directory: under a symlinked work dir the compiler sees that.
function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
