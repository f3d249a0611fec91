import type { BuildReport } from '../contract.ts';
import type { ToolchainBuild } from '../build/toolchain-build.ts';
import { errorIdentity } from '../checks/compare.ts';
import { reportBuilds } from './report-builds.ts';

/**
 * Per-patch mode (build.perPatch): with new findings in the series build, the tree is built
 * again after each patch but the last, under the toolchains that have findings, so the reply
 * can say which patch introduced each one. Incremental builds keep this to one or two
 * files' worth of work per patch.
 */
export async function attributeToPatches(
  reports: BuildReport[],
  baseline: ToolchainBuild[],
  commits: string[],
  buildAfter: (commit: string, toolchains: string[], patchNumber: number) => Promise<ToolchainBuild[]>,
): Promise<BuildReport[]> {
  const withFindings = reports.filter((r) => r.phase === 'series' && newKeys(r).size > 0);
  if (withFindings.length === 0) return reports;
  const firstSeen = new Map<string, Map<string, number>>(); // toolchain -> finding -> patch
  for (const r of withFindings) firstSeen.set(r.toolchain, new Map());
  for (let i = 0; i < commits.length - 1; i++) {
    const pending = withFindings.filter((r) =>
      [...newKeys(r)].some((k) => !firstSeen.get(r.toolchain)!.has(k)),
    );
    if (pending.length === 0) break;
    const builds = await buildAfter(
      commits[i]!,
      pending.map((r) => r.toolchain),
      i + 1,
    );
    for (const partial of reportBuilds(baseline, builds).filter((r) => r.phase === 'series')) {
      const seen = firstSeen.get(partial.toolchain)!;
      for (const k of newKeys(partial)) if (!seen.has(k)) seen.set(k, i + 1);
    }
  }
  const last = commits.length;
  return reports.map((r) => {
    const seen = firstSeen.get(r.toolchain);
    if (!seen || r.phase !== 'series') return r;
    return {
      ...r,
      duplicates: {
        ...r.duplicates,
        new: r.duplicates.new.map((d) => ({ ...d, introducedBy: seen.get(`dup:${d.key}`) ?? last })),
      },
      errors: r.errors.map((e) =>
        e.status === 'new' ? { ...e, introducedBy: seen.get(`err:${errorIdentity(e)}`) ?? last } : e,
      ),
    };
  });
}

function newKeys(r: BuildReport): Set<string> {
  return new Set([
    ...r.duplicates.new.map((d) => `dup:${d.key}`),
    ...r.errors.filter((e) => e.status === 'new').map((e) => `err:${errorIdentity(e)}`),
  ]);
}
