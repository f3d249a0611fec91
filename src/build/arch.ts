import type { ToolchainConfig } from '../config/schema.ts';

// A toolchain is a compiler and a target architecture. Xen's build takes the architecture from
// XEN_TARGET_ARCH (x86_64 when unset), so the toolchain's make args are where it is read from:
// a second field could disagree with what make is told.

/** Xen's XEN_TARGET_ARCH of a toolchain: x86_64, arm64, arm32, riscv64, ppc64. */
export function targetArch(t: Pick<ToolchainConfig, 'makeArgs'>): string {
  for (const a of t.makeArgs) {
    const m = /^XEN_TARGET_ARCH=(\S+)$/.exec(a);
    if (m) return m[1]!;
  }
  return 'x86_64';
}

/** The xen/arch/ directory each XEN_TARGET_ARCH builds from. */
function archDir(arch: string): string {
  if (arch.startsWith('x86')) return 'x86';
  if (arch.startsWith('arm')) return 'arm';
  if (arch.startsWith('riscv')) return 'riscv';
  if (arch.startsWith('ppc')) return 'ppc';
  return arch;
}

/**
 * Rule skip-untouched-arch (build.skipUntouchedArch): a series whose every change lies under
 * other architectures' `xen/arch/<dir>/` cannot change this architecture's hypervisor, so its
 * build need not wait for one. Common code, headers outside xen/arch/, and anything else build
 * everywhere. Returns why the toolchain is not built, or null to build it.
 */
export function untouchedArch(changed: string[], arch: string, subdir: string): string | null {
  const root = `${subdir.replace(/\/+$/, '')}/arch/`;
  const own = `${root}${archDir(arch)}/`;
  const touched = new Set<string>();
  for (const p of changed) {
    if (!p.startsWith(root)) return null;
    const dir = p.slice(root.length).split('/')[0];
    if (!dir || !p.slice(root.length).includes('/')) return null; // xen/arch/Kconfig and the like
    touched.add(`${root}${dir}/`);
  }
  if (touched.size === 0 || touched.has(own)) return null;
  return `not built: the series touches only ${[...touched].sort().join(', ')}, nothing ${arch} builds from (${own} or common code)`;
}
