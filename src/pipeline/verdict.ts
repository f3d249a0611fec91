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
  const series = builds.filter((b) => b.phase === 'series');
  const baselineOf = (t: string) => builds.find((b) => b.phase === 'baseline' && b.toolchain === t);
  // A series build that fails where the base built is the series' failure even when the
  // log parser found nothing it recognises.
  const newlyBroken = (b: BuildReport) =>
    b.status === 'fail' && !b.botError && baselineOf(b.toolchain)?.status === 'pass';
  const failing = series.filter(
    (b) =>
      b.duplicates.new.length > 0 ||
      b.errors.some((e) => e.status === 'new' && isError(e.kind)) ||
      newlyBroken(b),
  );
  const broken = builds.filter((b) => b.botError !== null || b.status === 'error' || b.status === 'timeout');
  if (failing.length > 0) {
    const parts = failing.map((b) => {
      const d = b.duplicates.new.length;
      const e = b.errors.filter((x) => x.status === 'new' && isError(x.kind)).length;
      const what = [
        d ? `${d} new duplicate symbol${d > 1 ? 's' : ''}` : '',
        e ? `${e} new error${e > 1 ? 's' : ''}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      return `${what || 'the build fails'} under ${b.toolchain}`;
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

function isError(kind: string): boolean {
  return kind !== 'compiler-warning';
}
