import type { ApplyResult, BuildReport, Verdict } from '../contract.ts';
import { baseBroken, failedAt, failWords, judgedBuilds, toolchainVerdict } from '../result-words.ts';

export { toolchainVerdict } from '../result-words.ts';

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
    const at = failedAt(apply);
    return {
      verdict: 'fail',
      summary: `fail: the series does not apply${at ? ` at patch ${at}` : ''}${apply.mangled ? ' (mangled by the mail client)' : ''}`,
    };
  }
  const series = judgedBuilds(builds);
  const failing = failWords(builds);
  const broken = builds.filter((b) => b.botError !== null || b.status === 'error' || b.status === 'timeout');
  if (failing) return { verdict: 'fail', summary: `fail: ${failing}` };
  const brokenBase = series.filter((b) => baseBroken(b, builds)).map((b) => b.toolchain);
  if (brokenBase.length > 0 && broken.length === 0)
    return {
      verdict: 'error',
      summary: `error: listci could not judge (${brokenBase.join(', ')}): the base does not build under ${brokenBase.join(', ')}, and the series fails the same way`,
    };
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

/** The series builds with their toolchain verdicts filled in. */
export function withToolchainVerdicts(builds: BuildReport[]): BuildReport[] {
  return builds.map((b) =>
    b.phase === 'series' && b.status !== 'skipped' ? { ...b, verdict: toolchainVerdict(b, builds) } : b,
  );
}
