import type { BuildReport } from '../contract.ts';

/** A toolchain as results name it: its name, and its architecture when that is not x86 and the name does not say it. */
export function toolchainLabel(b: Pick<BuildReport, 'toolchain' | 'arch'>): string {
  const arch = b.arch ?? 'x86_64';
  return arch === 'x86_64' || b.toolchain.includes(arch) ? b.toolchain : `${b.toolchain} ${arch}`;
}

/**
 * What a reader should know about how the series was built, beyond its findings: built from
 * scratch because the build rules changed, or stopped by listci at a limit. One line each,
 * said once when every toolchain shares it; the reply and `listci check` both print these.
 */
export function buildNotes(builds: BuildReport[]): string[] {
  const series = builds.filter((b) => b.phase === 'series');
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
