import type { BuildError, BuildReport, CheckResult, DuplicateSymbol } from '../contract.ts';
import {
  baseLine,
  buildNotes,
  definedIn,
  duplicateTitle,
  errorLine,
  failedAt,
  failWords,
  newErrors,
  newWarnings,
  passingToolchains,
  plural,
  preexistingMessages,
  resultWord,
  seriesBuilds as seriesOf,
  toolchainLabel,
} from '../result-words.ts';
import { stripReplyPrefixes } from '../mail/subject.ts';

// The text of the reply a maintainer reads in the thread. Modelled on the kernel test
// robot's reports: the verdict first, what is new marked as new, what was already broken
// counted but not blamed, tags to add, and how to reproduce. Plain text, deterministic:
// the same result renders to the same bytes, so tests compare text.

/** The series' first mail (cover letter, else patch 1): the reply is threaded under it. */
export interface HeadMail {
  subject: string;
  messageId: string; // without angle brackets
  /** Its References header, oldest first, without angle brackets. */
  references: string[];
  author: string; // "Name <addr>"
}

export interface ReplyInput {
  result: CheckResult;
  head: HeadMail;
  runId: number;
  /** Base URL of the web page; the run's page is `${webUrl}/runs/${runId}`. */
  webUrl: string | null;
  /** How a contributor reruns the check, e.g. "listci check --mbox series.mbox". */
  reproduce: string;
  /** Who the tags credit, "listci <listci@example.org>". */
  from: string;
}

export interface RenderedReply {
  subject: string;
  text: string;
}

/** Build errors are quoted, not attached: this many characters per excerpt at most. */
const EXCERPT_MAX = 1500;
/** And this many errors per toolchain; the rest are counted. */
const ERRORS_MAX = 5;

export function renderReply(input: ReplyInput): RenderedReply {
  const { result } = input;
  const sections = [
    verdictLine(result),
    seriesAndBase(result),
    applySection(result),
    buildTable(result),
    ...seriesBuilds(result).flatMap((b) => [
      // An 'error' verdict already names each of listci's failures in its first lines.
      result.verdict === 'error' ? '' : botErrorSection(b),
      duplicatesSection(b, result.series.patches.length),
      errorsSection(b),
      warningsSection(b),
    ]),
    collisionsSection(result),
    preexistingSection(result),
    tagsSection(input),
    linkAndReproduce(input),
    signature(input),
  ];
  return {
    subject: replySubject(input.head.subject),
    text: sections.filter((s) => s !== '').join('\n\n') + '\n',
  };
}

/** "Re: " once, however many reply prefixes the head mail already carries. */
export function replySubject(subject: string): string {
  return `Re: ${stripReplyPrefixes(subject)}`;
}

const seriesBuilds = (r: CheckResult): BuildReport[] => seriesOf(r.builds);

/** The bot's own failures: a build it could not run, or a run that never got to building. */
function botErrors(r: CheckResult): string[] {
  return seriesBuilds(r)
    .filter((b) => b.botError !== null)
    .map((b) => `${b.toolchain}: ${b.botError}`);
}

function verdictLine(r: CheckResult): string {
  const apply = r.apply;
  if (r.verdict === 'error') {
    const why = botErrors(r);
    return [
      "ERROR (listci's fault, not the series'): listci could not check this series.",
      ...why.map((w) => `  ${w}`),
      ...(why.length === 0 ? [`  ${r.summary}`] : []),
      'Nothing is known about the series from this run; no action is needed from the author.',
    ].join('\n');
  }
  const m = failedAt(apply);
  if (apply && m) {
    if (apply.mangled)
      return `FAIL: patch ${m} was damaged by the mail client, not by a conflict with the base: ${apply.mangled}.`;
    return `FAIL: patch ${m} does not apply to the base.`;
  }
  if (r.verdict === 'pass')
    return `PASS: the series applied and built with live patching under ${passingToolchains(r.builds) || 'no toolchain'}; no new duplicate symbols.`;
  return `FAIL: ${failWords(r.builds) || r.summary}.`;
}

function seriesAndBase(r: CheckResult): string {
  const s = r.series;
  const lines = [
    `Series: ${s.title} (v${s.version}, ${s.patches.length} patch${s.patches.length === 1 ? '' : 'es'})`,
  ];
  if (!s.complete && s.missing.length)
    lines.push(`        checked without patches ${s.missing.join(', ')}: they never arrived`);
  lines.push(`Base:   ${baseLine(r.base)}`);
  return lines.join('\n');
}

function applySection(r: CheckResult): string {
  const a = r.apply;
  if (!a || a.ok || !a.failedPatch) return '';
  const f = a.failedPatch;
  const lines = [`Patch ${f.number}/${f.total} "${f.subject}"${f.messageId ? ` <${f.messageId}>` : ''}`];
  if (a.mangled) {
    lines.push(
      `looks damaged by the mail client: ${a.mangled}.`,
      'The patch itself may be fine: please resend it with `git send-email` (or check your',
      "mailer's settings for wrapped lines and format=flowed).",
    );
  } else {
    lines.push(`did not apply: ${a.applied} of ${a.total} patches went in before it.`);
    if (a.conflicts.length) lines.push(`Conflicts in: ${a.conflicts.join(', ')}`);
    lines.push(
      'Please rebase the series onto the base above (or name your base with a base-commit: trailer).',
    );
  }
  if (a.skipped)
    lines.push(`${a.skipped === 1 ? '1 later patch was' : `${a.skipped} later patches were`} not tried.`);
  if (a.error) lines.push('', "git's message:", quote(clip(a.error, EXCERPT_MAX)));
  return lines.join('\n');
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function buildTable(r: CheckResult): string {
  const builds = seriesBuilds(r);
  if (!builds.length) return '';
  const rows = builds.map((b) => [
    toolchainLabel(b),
    // The toolchain's judgement when the pipeline gave one: a build that links but adds a duplicate fails.
    b.botError
      ? 'error (listci)'
      : b.status === 'skipped' || resultWord(b) === 'pass'
        ? resultWord(b)
        : resultWord(b).toUpperCase(),
    b.status === 'skipped' || b.botError ? '-' : duration(b.durationMs),
    String(b.duplicates.new.length),
    String(newErrors(b).length),
  ]);
  const header = ['toolchain', 'result', 'time', 'new dups', 'new errors'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    '  ' +
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    'Builds (CONFIG_LIVEPATCH=y, CONFIG_ENFORCE_UNIQUE_SYMBOLS=y):',
    line(header),
    ...rows.map(line),
    ...buildNotes(r.builds).map((n) => `  ${n}`),
  ].join('\n');
}

function botErrorSection(b: BuildReport): string {
  if (!b.botError) return '';
  return `${b.toolchain} was not judged: listci itself failed (${b.botError}). This is not the series' fault.`;
}

/** One line a maintainer can act on: why this key stops live patching. */
function whyItBreaks(d: DuplicateSymbol): string {
  if (d.key.includes('#'))
    return `live patching finds local symbols by ${d.key.split('#')[0]}#name, and ${d.key} now names ${d.objects.length || 'several'} definitions, so a live patch cannot tell which one it replaces.`;
  return `the global ${d.key} is defined ${d.objects.length > 1 ? `${d.objects.length} times` : 'more than once'}, so a live patch cannot tell which definition it replaces.`;
}

function duplicatesSection(b: BuildReport, total: number): string {
  const dups = [...b.duplicates.new].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  if (!dups.length) return '';
  return [
    `New duplicate symbols under ${b.toolchain} (not in the base; the hypervisor is no longer live-patchable):`,
    ...dups.flatMap((d) => [
      `  ${duplicateTitle(d, total)}`,
      `    defined in: ${definedIn(d)}${d.addresses.length ? ` (${d.addresses.join(' != ')})` : ''}`,
      ...(d.xenLine ? [`    Xen's check: ${d.xenLine}`] : []),
      `    why: ${whyItBreaks(d)}`,
    ]),
  ].join('\n');
}

/** The errors the table counts, no more: Xen's duplicate check shows above as the duplicates. */
const errorsSection = (b: BuildReport): string =>
  logSection(`New build errors under ${b.toolchain}:`, newErrors(b));

/** New warnings are worth a look but fail nothing, so they are not among the errors. */
const warningsSection = (b: BuildReport): string =>
  logSection(`New compiler warnings under ${b.toolchain} (they do not fail the series):`, newWarnings(b));

function logSection(title: string, errs: BuildError[]): string {
  if (!errs.length) return '';
  const shown = errs.slice(0, ERRORS_MAX);
  const lines = [title];
  for (const e of shown) {
    lines.push(`  ${errorLine(e)}`);
    if (e.excerpt.trim()) lines.push(quote(clip(e.excerpt, EXCERPT_MAX)));
  }
  if (errs.length > shown.length)
    lines.push(`  ... and ${errs.length - shown.length} more (see the run's page).`);
  return lines.join('\n');
}

function collisionsSection(r: CheckResult): string {
  const lines: string[] = [];
  for (const b of seriesBuilds(r))
    for (const c of b.fileCollisions.filter((x) => x.status === 'new'))
      lines.push(`  ${b.toolchain}: file name ${c.file} now appears in ${c.objects.join(', ')}`);
  if (!lines.length) return '';
  return [
    'Warnings (live-patch tools resolve local symbols by file name; two objects now share one):',
    ...lines,
  ].join('\n');
}

function preexistingSection(r: CheckResult): string {
  const counts: string[] = [];
  for (const b of seriesBuilds(r)) {
    const d = b.duplicates.preexisting.length;
    const e = preexistingMessages(b).length;
    const c = b.fileCollisions.filter((x) => x.status === 'preexisting').length;
    const what = [
      d ? plural(d, 'duplicate symbol') : '',
      e ? plural(e, 'build message') : '',
      c ? plural(c, 'file-name collision') : '',
    ].filter(Boolean);
    if (what.length) counts.push(`${b.toolchain}: ${what.join(', ')}`);
  }
  if (!counts.length) return '';
  return `Already in the base, not caused by this series: ${counts.join('; ')}.`;
}

function hasFindings(r: CheckResult): boolean {
  return seriesBuilds(r).some((b) => b.duplicates.new.length > 0 || newErrors(b).length > 0);
}

/** The kernel test robot's convention: the tags a fixed version should carry. */
function tagsSection(input: ReplyInput): string {
  if (input.result.verdict !== 'fail' || !hasFindings(input.result)) return '';
  const lines = [
    'If you fix the issue in a new version of the series, kindly add these tags:',
    `  Reported-by: ${input.from}`,
  ];
  if (input.webUrl) lines.push(`  Closes: ${runUrl(input)}`);
  return lines.join('\n');
}

export const runUrl = (input: { webUrl: string | null; runId: number }): string =>
  input.webUrl ? `${input.webUrl.replace(/\/+$/, '')}/runs/${input.runId}` : '';

/**
 * The command a contributor pastes to rerun the check. The Message-ID is the sender's text:
 * it goes in single quotes with every quote in it escaped the POSIX way ('\''), so a shell
 * reads it back as the one literal argument. One that could still surprise whoever pastes
 * it (control or non-ASCII characters that a terminal acts on, a leading '-' that b4 would
 * read as an option, a length no one checks by eye) is not shown at all.
 */
export function reproduceLine(messageId: string): string {
  const check = 'listci check --mbox series.mbox';
  if (!/^[A-Za-z0-9][\x21-\x7e]{0,250}$/.test(messageId))
    return `${check}   # with the series saved from the list archive as series.mbox`;
  return `b4 am -o - ${shellQuote(messageId)} > series.mbox && ${check}`;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

function linkAndReproduce(input: ReplyInput): string {
  const lines: string[] = [];
  if (input.webUrl) lines.push(`Full logs and results: ${runUrl(input)}`, '');
  lines.push('To reproduce locally:', `  ${input.reproduce}`);
  return lines.join('\n');
}

function signature(input: ReplyInput): string {
  return [
    '-- ',
    `listci ${input.result.listciVersion}, run ${input.runId}. An automated check of live-patchability;`,
    'reply to the list, not to this address.',
  ].join('\n');
}

/** Head and tail of a long excerpt: the first error and the last lines usually explain it. */
export function clip(text: string, max: number): string {
  const t = text.replace(/\s+$/, '');
  if (t.length <= max) return t;
  const lines = t.split('\n');
  const head: string[] = [];
  const tail: string[] = [];
  let used = 0;
  for (let i = 0, j = lines.length - 1; i <= j;) {
    const next = head.length <= tail.length ? lines[i]! : lines[j]!;
    if (used + next.length + 1 > max) break;
    used += next.length + 1;
    if (head.length <= tail.length) head.push(lines[i++]!);
    else tail.unshift(lines[j--]!);
  }
  const cut = lines.length - head.length - tail.length;
  // A single enormous line: keep its start.
  if (!head.length) return `${t.slice(0, max)} [... cut]`;
  return [...head, `[... ${plural(cut, 'line')} cut ...]`, ...tail].join('\n');
}

const quote = (text: string): string =>
  text
    .split('\n')
    .map((l) => `    ${l}`.trimEnd())
    .join('\n');
