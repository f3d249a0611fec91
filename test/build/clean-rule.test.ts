import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBuildMode } from '../../src/build/clean-rule.ts';

const START = { commit: 'e8d4fa47e08f62f17bfb5d425dbc12a878718789' };
const mode = (changed: string[]) => chooseBuildMode(START, changed, { subdir: 'xen', what: 'the series' });

test('a series that changes only code builds incrementally on the snapshot', () => {
  assert.deepEqual(mode(['xen/common/kernel.c', 'xen/include/xen/lib.h', 'xen/arch/x86/entry.S']), {
    clean: false,
    rule: 'incremental',
    reason: 'incremental: on a clean-equivalent build of e8d4fa47e08f, 3 files changed',
    from: START.commit,
  });
  // The toolstack is not part of the hypervisor build, its Makefiles aside.
  assert.equal(mode(['tools/libs/light/libxl.c', 'docs/misc/livepatch.pandoc']).clean, false);
});

test('build machinery forces a clean build, and the reason names it', () => {
  for (const path of [
    'xen/Rules.mk',
    'Config.mk',
    'xen/arch/x86/Makefile',
    'xen/common/Kconfig',
    'xen/arch/x86/Kconfig.debug',
    'xen/arch/x86/configs/pvshim_defconfig',
    'xen/arch/x86/xen.lds.S',
    'xen/arch/arm/xen.lds.S',
    'xen/scripts/Kbuild.include',
    'xen/tools/symbols.c',
    'config/x86_64.mk',
    'tools/libs/light/Makefile',
  ]) {
    const m = mode(['xen/common/kernel.c', path]);
    assert.equal(m.clean, true, path);
    assert.equal(m.rule, 'build-rules-changed');
    assert.equal(m.reason, `built from scratch: the series changes the build rules (${path})`);
  }
  assert.equal(
    mode(['xen/Makefile', 'xen/Rules.mk', 'xen/arch/x86/Makefile', 'xen/common/Makefile']).reason,
    'built from scratch: the series changes the build rules (xen/Makefile, xen/Rules.mk, xen/arch/x86/Makefile and 1 more)',
  );
});

test('with nothing trusted to start from, the build is clean', () => {
  assert.equal(chooseBuildMode(null, [], { subdir: 'xen', what: 'the base' }).rule, 'no-snapshot');
});
