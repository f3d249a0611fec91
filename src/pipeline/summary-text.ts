import type { BuildReport, CheckResult } from '../contract.ts';
import {
  applyLine,
  baseLine,
  buildNotes,
  definedIn,
  duplicateTitle,
  errorLine,
  newErrors,
  preexistingCount,
  resultWord,
  seriesBuilds,
  toolchainLabel,
} from '../result-words.ts';

// The human summary `listci check` prints on stdout: what a contributor reads before posting.

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function summaryText(r: CheckResult): string {
  const out: string[] = [];
  out.push(
    `${r.verdict.toUpperCase()}: ${r.series.title} (v${r.series.version}, ${r.series.patches.length} patch${r.series.patches.length === 1 ? '' : 'es'})`,
  );
  out.push(r.summary);
  if (r.base) out.push(`base: ${baseLine(r.base)}`);
  if (r.apply) out.push(...applyLines(r.apply));
  const series = seriesBuilds(r.builds);
  if (series.length) {
    out.push('');
    const w = Math.max(9, ...series.map((b) => toolchainLabel(b).length));
    out.push(`${'toolchain'.padEnd(w)}  result   time      new dups  new errors  pre-existing`);
    for (const b of series) out.push(row(b, w));
    out.push(...buildNotes(r.builds));
  }
  for (const b of series) out.push(...findingLines(b, r.series.patches.length));
  return out.join('\n') + '\n';
}

function applyLines(a: NonNullable<CheckResult['apply']>): string[] {
  if (a.ok) return [`apply: ${applyLine(a)}`];
  const out = [`apply: ${applyLine(a)}${a.skipped ? `, ${a.skipped} later patch(es) not tried` : ''}`];
  if (a.mangled) out.push(`  the patch looks mangled by the mail client: ${a.mangled}`);
  if (a.conflicts.length) out.push(`  conflicts: ${a.conflicts.join(', ')}`);
  if (a.error)
    out.push(
      ...a.error
        .split('\n')
        .slice(0, 8)
        .map((l) => `  ${l}`),
    );
  return out;
}

function findingLines(b: BuildReport, patches: number): string[] {
  const out: string[] = [];
  for (const d of b.duplicates.new) {
    out.push(
      '',
      `[${b.toolchain}] new duplicate symbol ${duplicateTitle(d, patches)}`,
      `  defined in: ${definedIn(d)}`,
    );
    if (d.addresses.length) out.push(`  addresses: ${d.addresses.join(' != ')}`);
    if (d.xenLine) out.push(`  Xen's check: ${d.xenLine}`);
  }
  for (const e of newErrors(b).slice(0, 5)) out.push('', `[${b.toolchain}] ${errorLine(e)}`);
  if (b.botError)
    out.push('', `[${b.toolchain}] listci could not judge (not the series' fault): ${b.botError}`);
  if (b.logPath) out.push(`[${b.toolchain}] log: ${b.logPath}`);
  return out;
}

function row(b: BuildReport, w: number): string {
  // The toolchain's judgement: a build that links but adds a duplicate is a fail.
  return `${toolchainLabel(b).padEnd(w)}  ${resultWord(b).padEnd(7)}  ${seconds(b.durationMs).padEnd(8)}  ${String(b.duplicates.new.length).padEnd(8)}  ${String(newErrors(b).length).padEnd(10)}  ${preexistingCount(b)}`;
}
