// Series versus baseline: a finding the base tree already had is not the series' fault, so
// each finding is marked `new` or `preexisting` and only new ones fail a series.
//
// Matching: duplicates by key, file collisions by file name, log findings by kind + file +
// message with what a patch shifts anyway taken out — line and column numbers, absolute
// build-directory paths, addresses and offsets.
import type { BuildError, DuplicateSymbol, FileCollision, FindingStatus } from '../contract.ts';
import { xenDuplicateKey, type LogFinding } from './buildlog.ts';

export interface Findings {
  duplicates: Omit<DuplicateSymbol, 'status'>[];
  fileCollisions: Omit<FileCollision, 'status'>[];
  errors: LogFinding[];
}

export interface ComparedFindings {
  duplicates: DuplicateSymbol[];
  fileCollisions: FileCollision[];
  errors: BuildError[];
}

/** Take build roots off a path; an absolute path outside them keeps its last three parts. */
export function normalisePath(path: string, roots: string[] = []): string {
  for (const root of roots) {
    const r = root.endsWith('/') ? root : `${root}/`;
    if (path.startsWith(r)) return path.slice(r.length);
  }
  if (!path.startsWith('/')) return path.replace(/^(\.\/)+/, '');
  return path.split('/').filter(Boolean).slice(-3).join('/');
}

/** A message with the parts that move between two builds of nearly the same tree replaced. */
export function normaliseMessage(message: string, roots: string[] = []): string {
  return message
    .replace(/(?:\/[\w.+-]+)+\/?/g, (p) => normalisePath(p, roots))
    .replace(/\b0x[0-9a-fA-F]+\b/g, '<addr>')
    .replace(/\b[0-9a-fA-F]{8,16}\b/g, '<addr>')
    .replace(/(\.[ch]|\.S|\.lds|Kconfig|\.config|Makefile|\.mk):\d+(?::\d+)?/g, '$1:<line>')
    .replace(/\s+/g, ' ')
    .trim();
}

export function errorIdentity(e: LogFinding, roots: string[] = []): string {
  return [
    e.kind,
    e.file === null ? '' : normalisePath(e.file, roots),
    normaliseMessage(e.message, roots),
  ].join('\0');
}

/**
 * Mark each series finding against the baseline's. With no baseline (it failed to build, or
 * was not run) nothing can be called pre-existing, so everything is new.
 */
export function compareWithBaseline(
  series: Findings,
  baseline: Findings | null,
  roots: { series?: string[]; baseline?: string[] } = {},
): ComparedFindings {
  series = foldXenDuplicateLines(series);
  baseline = baseline && foldXenDuplicateLines(baseline);
  const status = (known: Set<string>, id: string): FindingStatus => (known.has(id) ? 'preexisting' : 'new');
  const dupKeys = new Set(baseline?.duplicates.map((d) => d.key));
  const files = new Set(baseline?.fileCollisions.map((f) => f.file));
  const errors = new Set(baseline?.errors.map((e) => errorIdentity(e, roots.baseline)));
  return {
    duplicates: series.duplicates.map((d) => ({ ...d, status: status(dupKeys, d.key) })),
    fileCollisions: series.fileCollisions.map((f) => ({ ...f, status: status(files, f.file) })),
    errors: series.errors.map((e) => ({ ...e, status: status(errors, errorIdentity(e, roots.series)) })),
  };
}

/**
 * Xen's --error-dup prints `Duplicate symbol 'k' (a != b)` for a duplicate that the symbol
 * table lists too: that is one finding, so it is kept once, as the duplicate, with Xen's line
 * as its evidence. A line whose key the symbols do not show (no image could be read) stays a
 * log finding: it is then the only evidence there is.
 */
export function foldXenDuplicateLines<F extends Findings>(f: F): F {
  const keys = new Set(f.duplicates.map((d) => d.key));
  const lines = new Map<string, string>();
  const errors = f.errors.filter((e) => {
    const key = xenDuplicateKey(e);
    if (key === null || !keys.has(key)) return true;
    if (!lines.has(key)) lines.set(key, e.message);
    return false;
  });
  if (errors.length === f.errors.length) return f;
  const duplicates = f.duplicates.map((d) => {
    const xenLine = lines.get(d.key);
    return xenLine === undefined ? d : { ...d, xenLine };
  });
  return { ...f, duplicates, errors };
}

/** The log findings the series introduced that fail it: new ones, warnings aside. */
export function newFailures<E extends Pick<BuildError, 'kind' | 'status'>>(errors: E[]): E[] {
  return errors.filter((e) => e.status === 'new' && e.kind !== 'compiler-warning');
}

/** Does anything new make the series fail? Warnings alone and file collisions do not. */
export function hasNewFailures(c: ComparedFindings): boolean {
  return c.duplicates.some((d) => d.status === 'new') || newFailures(c.errors).length > 0;
}
