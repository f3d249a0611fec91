// Whether a build may start from a trusted snapshot of an earlier build, or must start from an
// empty build dir. make rebuilds what changed by the prerequisites it knows; it does not know
// every input of a rule. Xen's if_changed compares compile command lines, but a change to a
// rule it does not compare (measured: cmd_objcopy_fix_sym in xen/Rules.mk, which renames each
// object's STT_FILE) rebuilds nothing, and an incremental build passes where a clean one fails
// on duplicate symbols. So anything that is build machinery, rather than code, forces a clean
// build. The rules are tried in order; the first that matches decides, and its reason is shown
// to the maintainer beside the build.

import type { BuildMode } from '../contract.ts';

export type { BuildMode };

/**
 * Paths that are build machinery, given relative to the top of the tree; `subdir` is where
 * make runs (Xen: "xen"). Each pattern says why it is here.
 */
export function buildRulePatterns(subdir: string): { pattern: RegExp; why: string }[] {
  const sub = subdir.replace(/\/+$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const under = sub ? `${sub}/` : '';
  return [
    { pattern: /(^|\/)(GNU)?[Mm]akefile$/, why: 'a Makefile' },
    { pattern: /\.mk$/, why: 'make include (Rules.mk, Config.mk, *.mk)' },
    { pattern: /(^|\/)Kconfig[^/]*$|(^|\/)Kbuild$/, why: 'Kconfig: what .config means' },
    { pattern: /(^|\/)configs\/|defconfig$/, why: 'a default configuration' },
    { pattern: /\.lds(\.S|\.h)?$|\.ld$/, why: 'a linker script' },
    { pattern: new RegExp(`^${under}scripts/`), why: "the build's own scripts" },
    { pattern: new RegExp(`^${under}tools/`), why: 'tools the build runs (symbols, fixdep)' },
    { pattern: /^config\//, why: 'top-level build configuration' },
  ];
}

/** The changed paths that are build machinery, with the first reason. */
export function buildRuleChanges(changed: string[], subdir: string): string[] {
  const patterns = buildRulePatterns(subdir);
  return changed.filter((p) => patterns.some((r) => r.pattern.test(p)));
}

function listed(paths: string[]): string {
  const shown = paths.slice(0, 3).join(', ');
  return paths.length > 3 ? `${shown} and ${paths.length - 3} more` : shown;
}

/**
 * How a build starts. `start` is the trusted snapshot it could start from (null: none), and
 * `changed` the paths that differ between that snapshot's tree and the tree to build. `what`
 * names whose change it is in the reason ("the series", "the base").
 */
export function chooseBuildMode(
  start: { commit: string } | null,
  changed: string[],
  opts: { subdir: string; what: string },
): BuildMode {
  /** Nothing trusted to start from: the first build of this toolchain and configuration. */
  if (!start)
    return {
      clean: true,
      rule: 'no-snapshot',
      reason: 'built from scratch: no earlier build of this toolchain to start from',
      from: null,
    };
  /** make cannot know what a changed rule would have done to objects it considers up to date. */
  const rules = buildRuleChanges(changed, opts.subdir);
  if (rules.length > 0)
    return {
      clean: true,
      rule: 'build-rules-changed',
      reason: `built from scratch: ${opts.what} changes the build rules (${listed(rules)})`,
      from: null,
    };
  return {
    clean: false,
    rule: 'incremental',
    reason: `incremental: on a clean-equivalent build of ${start.commit.slice(0, 12)}, ${changed.length} file${changed.length === 1 ? '' : 's'} changed`,
    from: start.commit,
  };
}
