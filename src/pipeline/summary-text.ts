import type { BuildReport, CheckResult } from '../contract.ts';
import { newFailures } from '../checks/compare.ts';
import { buildNotes, toolchainLabel } from './build-notes.ts';

// The human summary `listci check` prints on stdout: what a contributor reads before posting.

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function summaryText(r: CheckResult): string {
  const out: string[] = [];
  out.push(
    `${r.verdict.toUpperCase()}: ${r.series.title} (v${r.series.version}, ${r.series.patches.length} patch${r.series.patches.length === 1 ? '' : 'es'})`,
  );
  out.push(r.summary);
  if (r.base)
    out.push(`base: ${r.base.commit.slice(0, 12)}${r.base.ref ? ` (${r.base.ref})` : ''}: ${r.base.reason}`);
  if (r.apply && !r.apply.ok) {
    const p = r.apply.failedPatch;
    out.push(
      `apply: failed${p ? ` at ${p.number}/${p.total} "${p.subject}"` : ''}${r.apply.skipped ? `, ${r.apply.skipped} later patch(es) not tried` : ''}`,
    );
    if (r.apply.mangled) out.push(`  the patch looks mangled by the mail client: ${r.apply.mangled}`);
    if (r.apply.conflicts.length) out.push(`  conflicts: ${r.apply.conflicts.join(', ')}`);
    if (r.apply.error)
      out.push(
        ...r.apply.error
          .split('\n')
          .slice(0, 8)
          .map((l) => `  ${l}`),
      );
  } else if (r.apply) {
    out.push(`apply: ${r.apply.applied}/${r.apply.total} applied`);
  }
  const series = r.builds.filter((b) => b.phase === 'series');
  if (series.length) {
    out.push('');
    const w = Math.max(9, ...series.map((b) => toolchainLabel(b).length));
    out.push(`${'toolchain'.padEnd(w)}  result   time      new dups  new errors  pre-existing`);
    for (const b of series) out.push(row(b, w));
    out.push(...buildNotes(r.builds));
  }
  for (const b of series) {
    for (const d of b.duplicates.new) {
      out.push(
        '',
        `[${b.toolchain}] new duplicate symbol ${d.key}${d.introducedBy ? ` (introduced by patch ${d.introducedBy}/${r.series.patches.length})` : ''}`,
        `  defined in: ${d.objects.join(', ') || '(objects not found)'}`,
      );
      if (d.addresses.length) out.push(`  addresses: ${d.addresses.join(' != ')}`);
    }
    for (const e of newFailures(b.errors).slice(0, 5)) {
      out.push(
        '',
        `[${b.toolchain}] ${e.kind}${e.file ? ` ${e.file}${e.line ? `:${e.line}` : ''}` : ''}: ${e.message}`,
      );
    }
    if (b.botError)
      out.push('', `[${b.toolchain}] listci could not judge (not the series' fault): ${b.botError}`);
    if (b.logPath) out.push(`[${b.toolchain}] log: ${b.logPath}`);
  }
  return out.join('\n') + '\n';
}

function row(b: BuildReport, w: number): string {
  const pre =
    b.duplicates.preexisting.length +
    b.errors.filter((e) => e.status === 'preexisting' && e.kind !== 'compiler-warning').length;
  // The toolchain's judgement: a build that links but adds a duplicate is a fail.
  const result = b.verdict ?? b.status;
  return `${toolchainLabel(b).padEnd(w)}  ${result.padEnd(7)}  ${seconds(b.durationMs).padEnd(8)}  ${String(b.duplicates.new.length).padEnd(8)}  ${String(newFailures(b.errors).length).padEnd(10)}  ${pre}`;
}
