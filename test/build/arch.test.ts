import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targetArch, untouchedArch } from '../../src/build/arch.ts';

test("a toolchain's architecture is what make is told, x86_64 when it is told nothing", () => {
  assert.equal(targetArch({ makeArgs: ['clang=y'] }), 'x86_64');
  assert.equal(
    targetArch({ makeArgs: ['XEN_TARGET_ARCH=arm64', 'CROSS_COMPILE=aarch64-linux-gnu-'] }),
    'arm64',
  );
});

test('a series only in xen/arch/x86/ skips arm64, and the reverse; common code builds everywhere', () => {
  const x86 = ['xen/arch/x86/hvm/hvm.c', 'xen/arch/x86/include/asm/hvm/hvm.h'];
  const arm = ['xen/arch/arm/vgic.c'];
  assert.equal(
    untouchedArch(x86, 'arm64', 'xen'),
    'not built: the series touches only xen/arch/x86/, nothing arm64 builds from (xen/arch/arm/ or common code)',
  );
  assert.equal(untouchedArch(x86, 'x86_64', 'xen'), null);
  assert.match(untouchedArch(arm, 'x86_64', 'xen') ?? '', /touches only xen\/arch\/arm\//);
  assert.equal(untouchedArch(arm, 'arm64', 'xen'), null);
  assert.equal(untouchedArch([...x86, ...arm], 'arm64', 'xen'), null, 'both architectures');
  assert.equal(untouchedArch([...arm, 'xen/common/sched/core.c'], 'x86_64', 'xen'), null, 'common code');
  assert.equal(untouchedArch(['xen/arch/Kconfig'], 'arm64', 'xen'), null, 'shared arch Kconfig');
  assert.equal(untouchedArch([], 'arm64', 'xen'), null, 'an empty series is built');
});
