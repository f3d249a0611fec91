import type { Findings } from '../checks/index.ts';

// A compiler names files by the path it was given: the bot's worktree on the host
// (/var/lib/listci/worktrees/wt-0/xen/common/util.c) or its container mount (/src/xen/...).
// A contributor knows the file as xen/common/util.c, the path in their patch, and a reply
// must not show the bot's directories; a baseline cached from another worktree slot must
// also name the file the same way as the series build, or its errors would look new.

export interface TreeRoots {
  /** Where the source tree is checked out, as the compiler saw it; paths become tree paths. */
  source: string[];
  /** Where the build wrote its objects; paths become build-dir paths (common/util.o). */
  build: string[];
}

/** The findings with the bot's own directories taken off every path, each log finding once. */
export function findingsInTreePaths<F extends Findings>(findings: F, roots: TreeRoots): F {
  const strip = rootStripper([...roots.source, ...roots.build]);
  const seen = new Set<string>();
  const errors = [];
  for (const e of findings.errors) {
    const file = e.file === null ? null : strip(e.file);
    const message = strip(e.message);
    // The confirming rebuild from an empty build dir appends to the same log, so a compiler
    // error the series introduced appears twice; it is one finding.
    const id = [e.kind, file, e.line, message].join('\0');
    if (seen.has(id)) continue;
    seen.add(id);
    errors.push({ ...e, file, message, excerpt: strip(e.excerpt) });
  }
  return { ...findings, errors };
}

function rootStripper(roots: string[]): (text: string) => string {
  const dirs = [...new Set(roots.filter(Boolean).map((r) => r.replace(/\/+$/, '')))]
    // Longest first: /src must not eat the start of /src-other or a nested root.
    .sort((a, b) => b.length - a.length)
    .map(escape);
  if (dirs.length === 0) return (t) => t;
  // A root counts only where a path starts, so /usr/src/... keeps its /src/.
  const re = new RegExp(`(?<![\\w.~/-])(?:${dirs.join('|')})/`, 'g');
  return (text) => text.replace(re, '');
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
