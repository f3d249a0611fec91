import type { BuildReport } from '../contract.ts';
import type { ToolchainBuild } from '../build/toolchain-build.ts';
import { compareWithBaseline, foldXenDuplicateLines, type Findings } from '../checks/index.ts';

/** What the checks stage stored for one build (and what the baseline cache keeps). */
export type BuildFindings = Findings & { problems: string[] };

/** Baseline and series builds as the contract shows them, series findings marked new or pre-existing. */
export function reportBuilds(baseline: ToolchainBuild[], series: ToolchainBuild[]): BuildReport[] {
  const reports: BuildReport[] = [];
  for (const b of baseline) {
    const stored = b.check as BuildFindings | null;
    const f = stored && foldXenDuplicateLines(stored);
    reports.push({
      ...common(b),
      duplicates: {
        new: [],
        preexisting: (f?.duplicates ?? []).map((d) => ({ ...d, status: 'preexisting' })),
      },
      fileCollisions: (f?.fileCollisions ?? []).map((x) => ({ ...x, status: 'preexisting' })),
      errors: (f?.errors ?? []).map((e) => ({ ...e, status: 'preexisting' })),
    });
  }
  for (const s of series) {
    const base = baseline.find((b) => b.toolchain === s.toolchain);
    const seriesFindings = s.check as BuildFindings | null;
    const baseFindings = base && base.botError === null ? (base.check as BuildFindings | null) : null;
    const roots = [s.buildDir, '/build', '/src'];
    const compared = seriesFindings
      ? compareWithBaseline(seriesFindings, baseFindings, { series: roots, baseline: roots })
      : { duplicates: [], fileCollisions: [], errors: [] };
    // A series built on a base that itself could not be judged has nothing to compare with.
    const baseBroken =
      base?.botError ??
      (base && base.status !== 'pass' && base.status !== 'fail' ? `baseline ${base.status}` : null);
    reports.push({
      ...common(s),
      botError: s.botError ?? (baseBroken ? `the base could not be built: ${baseBroken}` : null),
      duplicates: {
        new: compared.duplicates.filter((d) => d.status === 'new'),
        preexisting: compared.duplicates.filter((d) => d.status === 'preexisting'),
      },
      fileCollisions: compared.fileCollisions,
      errors: compared.errors,
    });
  }
  return reports;
}

function common(b: ToolchainBuild) {
  return {
    toolchain: b.toolchain,
    arch: b.arch,
    phase: b.phase,
    status: b.status,
    durationMs: b.durationMs,
    cached: b.cached,
    botError: b.botError,
    logPath: b.logPath,
    mode: b.mode,
    stopped: b.stopped,
  };
}
