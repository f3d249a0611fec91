import { newFailures } from '../checks/compare.ts';
import type { ApplyResult, BuildReport, Verdict } from '../contract.ts';

/**
 * The series fails only for what it introduced; anything listci could not judge
 * (a crashed runner, a base that does not build, a timeout) is listci's error.
 */
export function decideVerdict(
  apply: ApplyResult | null,
  builds: BuildReport[],
): { verdict: Verdict; summary: string } {
  if (!apply) return { verdict: 'error', summary: 'error: no base to apply the series on' };
  if (!apply.ok) {
    const at = apply.failedPatch ? ` at patch ${apply.failedPatch.number}/${apply.failedPatch.total}` : '';
    return {
      verdict: 'fail',
      summary: `fail: the series does not apply${at}${apply.mangled ? ' (mangled by the mail client)' : ''}`,
    };
  }
  // A toolchain a rule did not build (build.skipUntouchedArch) has nothing to say either way.
  const series = builds.filter((b) => b.phase === 'series' && b.status !== 'skipped');
  const failing = series.filter((b) => toolchainVerdict(b, builds) === 'fail');
  const broken = builds.filter((b) => b.botError !== null || b.status === 'error' || b.status === 'timeout');
  if (failing.length > 0) {
    const parts = failing.map((b) => {
      const d = b.duplicates.new.length;
      const e = newFailures(b.errors).length;
      const what = [
        d ? `${d} new duplicate symbol${d > 1 ? 's' : ''}` : '',
        e ? `${e} new error${e > 1 ? 's' : ''}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      return `${what || (b.stopped ? 'the build was stopped' : 'the build fails')} under ${b.toolchain}`;
    });
    return { verdict: 'fail', summary: `fail: ${parts.join('; ')}` };
  }
  if (broken.length > 0 || series.length === 0) {
    const names = [...new Set(broken.map((b) => b.toolchain))].join(', ');
    // The first reason is the one to act on (the engine is down, an image is missing); the
    // series build usually only repeats it or says the base could not be built.
    const why = broken.find((b) => b.botError)?.botError;
    return {
      verdict: 'error',
      summary: `error: listci could not judge${names ? ` (${names})` : ''}${why ? `: ${why}` : ''}`,
    };
  }
  return {
    verdict: 'pass',
    summary: `pass: no new duplicate symbols or errors under ${series.map((b) => b.toolchain).join(', ')}`,
  };
}

/**
 * One toolchain's judgement of the series: fail for anything new (a duplicate, an error, or
 * a build that breaks where the base built, even when the log parser recognised nothing),
 * error when listci could not judge, else pass.
 */
export function toolchainVerdict(b: BuildReport, builds: BuildReport[]): Verdict {
  const baseline = builds.find((x) => x.phase === 'baseline' && x.toolchain === b.toolchain);
  // A series build that listci had to stop (looping, filling the disk) where the base built is
  // the series' doing: the limits are relative to what the base's build took.
  const stoppedBySeries = b.status === 'timeout' && !!b.stopped;
  const newlyBroken = (b.status === 'fail' || stoppedBySeries) && !b.botError && baseline?.status === 'pass';
  if (b.duplicates.new.length > 0 || newFailures(b.errors).length > 0 || newlyBroken) return 'fail';
  if (b.botError !== null || b.status === 'error' || b.status === 'timeout' || b.status === 'skipped')
    return 'error';
  return 'pass';
}

/** The series builds with their toolchain verdicts filled in. */
export function withToolchainVerdicts(builds: BuildReport[]): BuildReport[] {
  return builds.map((b) =>
    b.phase === 'series' && b.status !== 'skipped' ? { ...b, verdict: toolchainVerdict(b, builds) } : b,
  );
}
