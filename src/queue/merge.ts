import type { ToolchainConfig } from '../config/schema.ts';
import type { ApplyResult, BaseChoice, BuildReport, CheckResult } from '../contract.ts';
import { targetArch } from '../build/arch.ts';
import { checkResult } from '../pipeline/check.ts';
import { withToolchainVerdicts } from '../pipeline/verdict.ts';
import type { SeriesToCheck } from '../series/types.ts';
import type { BuildJobResult } from './job.ts';

// The daemon's side of a queued check: one result per toolchain comes back from the workers,
// and they become the one CheckResult the embedded pipeline would have made, in the same
// order, so a reply, the database and the API cannot tell where the builds ran.

/** What became of one toolchain's job. */
export type ToolchainOutcome =
  | { toolchain: ToolchainConfig; result: BuildJobResult }
  /** The job failed for good (its attempts spent, or stalled too often): listci's error, never the series'. */
  | { toolchain: ToolchainConfig; failed: string };

export interface MergeInput {
  series: SeriesToCheck;
  startedAt: Date;
  base: BaseChoice;
  /** In config order. */
  outcomes: ToolchainOutcome[];
  /** Where the daemon wrote a returned log (the path relative to the job's log dir); null: none kept. */
  logPathOf?: (toolchain: string, relative: string | null) => string | null;
}

export function mergeResults(input: MergeInput): CheckResult {
  const { outcomes } = input;
  const done = outcomes.flatMap((o) => ('result' in o ? [o.result] : []));
  const failed = outcomes.flatMap((o) => ('failed' in o ? [{ toolchain: o.toolchain, why: o.failed }] : []));
  const common = { series: input.series, startedAt: input.startedAt, base: input.base };

  // Every worker applied the same patches on the same commit; if one says they do not
  // apply, that is the series' doing whatever the other toolchains say.
  const apply: ApplyResult | null = done.find((r) => !r.apply.ok)?.apply ?? done[0]?.apply ?? null;
  if (apply && !apply.ok) return checkResult({ ...common, apply, builds: [] });

  const failedReports = failed.map((f) => jobFailedReport(f.toolchain, f.why));
  if (!apply) {
    const names = failed.map((f) => f.toolchain.name).join(', ');
    return checkResult({
      ...common,
      apply: null,
      builds: failedReports,
      summary: `error: listci could not judge (${names}): ${failed[0]?.why ?? 'no build result came back'}`,
    });
  }

  const mapLog = input.logPathOf ?? ((_t: string, rel: string | null) => rel);
  const reports = [
    ...done.flatMap((r) => r.builds.map((b) => ({ ...b, logPath: mapLog(r.toolchain, b.logPath) }))),
    ...failedReports,
  ];
  const order = new Map(outcomes.map((o, i) => [o.toolchain.name, i]));
  const rank = (b: BuildReport) => (b.phase === 'baseline' ? 0 : b.status === 'skipped' ? 2 : 1);
  // The embedded order: every baseline, then every series build, then the toolchains a rule
  // skipped, each group in config order (a sort is stable: per-toolchain order is kept).
  reports.sort((a, b) => rank(a) - rank(b) || (order.get(a.toolchain) ?? 0) - (order.get(b.toolchain) ?? 0));
  return checkResult({ ...common, apply, builds: withToolchainVerdicts(reports) });
}

/** When the toolchains' builds ran, over all workers; null when none built. */
export function buildWindowOf(results: BuildJobResult[]): { startedAt: string; finishedAt: string } | null {
  const windows = results.flatMap((r) => (r.buildWindow ? [r.buildWindow] : []));
  if (windows.length === 0) return null;
  return {
    startedAt: windows.map((w) => w.startedAt).sort()[0]!,
    finishedAt: windows
      .map((w) => w.finishedAt)
      .sort()
      .at(-1)!,
  };
}

/** A toolchain whose job never came back with a result: listci's error, reported as such. */
function jobFailedReport(t: ToolchainConfig, why: string): BuildReport {
  return {
    toolchain: t.name,
    arch: targetArch(t),
    phase: 'series',
    status: 'error',
    durationMs: 0,
    cached: false,
    botError: why,
    logPath: null,
    mode: null,
    stopped: null,
    duplicates: { new: [], preexisting: [] },
    fileCollisions: [],
    errors: [],
  };
}
