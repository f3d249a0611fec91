// What a CheckResult means, in words. The reply, `listci check`'s summary, `listci query show`,
// the web page, the progress lines and the verdict's one-line summary all take their counts
// and phrases from here: two places that count or word a result themselves soon disagree
// (the reply once counted "new errors 0" above a list headed "New build errors").
import type { ApplyResult, BuildError, BuildReport, DuplicateSymbol, Verdict } from './contract.ts';
import { xenDuplicateKey } from './checks/buildlog.ts';
import { newFailures } from './checks/compare.ts';

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export const seriesBuilds = (builds: BuildReport[]): BuildReport[] =>
  builds.filter((b) => b.phase === 'series');

// --- The base -------------------------------------------------------------------------

/** A base as the result holds it, or as the runs table's columns give it back. */
export interface BaseWords {
  commit: string | null;
  ref: string | null;
  reason: string | null;
}

/** "3f1c2b4a5d6e (staging), chosen by: default branch staging (no base-commit trailer)". */
export function baseLine(base: BaseWords | null): string {
  if (!base?.commit) return 'none could be chosen';
  const ref = base.ref ? ` (${base.ref})` : '';
  return `${base.commit.slice(0, 12)}${ref}, chosen by: ${base.reason ?? 'no reason recorded'}`;
}

// --- Applying ------------------------------------------------------------------------

/** "2/3", the patch that did not apply; null when all went in or none was tried. */
export function failedAt(apply: ApplyResult | null): string | null {
  const p = apply && !apply.ok ? apply.failedPatch : null;
  return p ? `${p.number}/${p.total}` : null;
}

/** `patch 2/3 "x86/vmx: add cpu_callback"`. */
export function failedPatchWords(apply: ApplyResult): string {
  const p = apply.failedPatch;
  return p ? `patch ${p.number}/${p.total} "${p.subject}"` : 'an unknown patch';
}

/** "3/3 applied", or `failed at patch 2/3 "…"`. */
export function applyLine(apply: ApplyResult): string {
  return apply.ok ? `${apply.applied}/${apply.total} applied` : `failed at ${failedPatchWords(apply)}`;
}

// --- Counting findings ---------------------------------------------------------------

/**
 * Xen's own `Duplicate symbol 'k'` line for a duplicate the result lists: the same finding,
 * counted once, as the duplicate. The checks fold such lines into the duplicate (xenLine);
 * results stored before they did still hold the line as an error.
 */
function isListedDuplicate(e: BuildError, b: BuildReport): boolean {
  const key = xenDuplicateKey(e);
  return key !== null && [...b.duplicates.new, ...b.duplicates.preexisting].some((d) => d.key === key);
}

/** The log findings that fail the series: new, warnings aside, each duplicate counted once. */
export function newErrors(b: BuildReport): BuildError[] {
  return newFailures(b.errors).filter((e) => !isListedDuplicate(e, b));
}

/** New compiler warnings: shown, never failing the series. */
export function newWarnings(b: BuildReport): BuildError[] {
  return b.errors.filter((e) => e.status === 'new' && e.kind === 'compiler-warning');
}

/** Log findings the base already had (warnings included), each duplicate counted once. */
export function preexistingMessages(b: BuildReport): BuildError[] {
  return b.errors.filter((e) => e.status === 'preexisting' && !isListedDuplicate(e, b));
}

/** What `listci check`'s table counts as pre-existing: the base's duplicates and errors. */
export function preexistingCount(b: BuildReport): number {
  const errors = preexistingMessages(b).filter((e) => e.kind !== 'compiler-warning');
  return b.duplicates.preexisting.length + errors.length;
}

// --- Judging -------------------------------------------------------------------------

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
  if (b.duplicates.new.length > 0 || newErrors(b).length > 0 || newlyBroken) return 'fail';
  if (b.botError !== null || b.status === 'error' || b.status === 'timeout' || b.status === 'skipped')
    return 'error';
  if (baseBroken(b, builds)) return 'error';
  return 'pass';
}

/**
 * The base does not build, and the series fails the same way: the build stopped before it
 * reached what the series changed, so "no new errors" would be a PASS a working base might
 * not give. listci cannot judge it; the series is not to blame either.
 */
export function baseBroken(b: BuildReport, builds: BuildReport[]): boolean {
  const baseline = builds.find((x) => x.phase === 'baseline' && x.toolchain === b.toolchain);
  return b.phase === 'series' && b.status === 'fail' && baseline?.status === 'fail';
}

/** The series builds a verdict speaks for: a toolchain a rule did not build says nothing. */
export const judgedBuilds = (builds: BuildReport[]): BuildReport[] =>
  seriesBuilds(builds).filter((b) => b.status !== 'skipped');

/** The toolchain's result as a table shows it: its judgement when it has one, else the build's status. */
export const resultWord = (b: BuildReport): string => b.verdict ?? b.status;

/** What fails the series under one toolchain: "2 new duplicate symbols and 1 new build error". */
export function toolchainFindings(b: BuildReport): string {
  const dups = b.duplicates.new.length;
  const errs = newErrors(b).length;
  const what = [
    dups ? plural(dups, 'new duplicate symbol') : '',
    errs ? plural(errs, 'new build error') : '',
  ];
  const found = what.filter(Boolean).join(' and ');
  return found || (b.stopped ? 'the build was stopped' : 'the build fails');
}

/** Every failing toolchain: "2 new duplicate symbols under clang-14; the build fails under gcc-12". */
export function failWords(builds: BuildReport[]): string {
  return judgedBuilds(builds)
    .filter((b) => toolchainVerdict(b, builds) === 'fail')
    .map((b) => `${toolchainFindings(b)} under ${b.toolchain}`)
    .join('; ');
}

/** The toolchains that judged the series good: "gcc-12, clang-14". */
export function passingToolchains(builds: BuildReport[]): string {
  return judgedBuilds(builds)
    .filter((b) => toolchainVerdict(b, builds) === 'pass')
    .map((b) => b.toolchain)
    .join(', ');
}

// --- One finding ---------------------------------------------------------------------

/** "vmx.c#cpu_callback (introduced by patch 2/3)". */
export function duplicateTitle(d: DuplicateSymbol, patches: number): string {
  return `${d.key}${d.introducedBy ? ` (introduced by patch ${d.introducedBy}/${patches})` : ''}`;
}

export const definedIn = (d: DuplicateSymbol): string => d.objects.join(', ') || 'unknown objects';

/** "xen/arch/x86/hvm.c:12: compiler-error: 'x' undeclared". */
export function errorLine(e: BuildError): string {
  const where = e.file ? `${e.file}${e.line !== null ? `:${e.line}` : ''}: ` : '';
  return `${where}${e.kind}: ${e.message}`;
}

// --- How it was built ----------------------------------------------------------------

/** A toolchain as results name it: its name, and its architecture when that is not x86 and the name does not say it. */
export function toolchainLabel(b: Pick<BuildReport, 'toolchain' | 'arch'>): string {
  const arch = b.arch ?? 'x86_64';
  return arch === 'x86_64' || b.toolchain.includes(arch) ? b.toolchain : `${b.toolchain} ${arch}`;
}

/**
 * What a reader should know about how the series was built, beyond its findings: built from
 * scratch because the build rules changed, or stopped by listci at a limit. One line each,
 * said once when every toolchain shares it.
 */
export function buildNotes(builds: BuildReport[]): string[] {
  const series = seriesBuilds(builds);
  const lines: { toolchain: string; text: string }[] = [];
  for (const b of series) {
    if (b.skipped) lines.push({ toolchain: b.toolchain, text: b.skipped });
    if (b.mode?.clean) lines.push({ toolchain: b.toolchain, text: b.mode.reason });
    if (b.stopped) lines.push({ toolchain: b.toolchain, text: `stopped by listci: ${b.stopped}` });
  }
  const texts = [...new Set(lines.map((l) => l.text))];
  return texts.map((text) => {
    const who = lines.filter((l) => l.text === text).map((l) => l.toolchain);
    return who.length === series.length && series.length > 1 ? text : `${who.join(', ')}: ${text}`;
  });
}

// --- Progress ------------------------------------------------------------------------
