import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withoutStaleObjects } from '../../src/pipeline/stale-objects.ts';
import { tempDir } from '../helpers/cli.ts';

test('an object left in the build dir by an earlier series is not named as defining a duplicate', () => {
  const root = tempDir();
  const sourceDir = join(root, 'xen');
  const buildDir = join(root, 'build');
  mkdirSync(join(sourceDir, 'common'), { recursive: true });
  mkdirSync(join(sourceDir, 'arch/x86'), { recursive: true });
  mkdirSync(join(buildDir, 'include'), { recursive: true });
  writeFileSync(join(sourceDir, 'common/util.c'), '');
  writeFileSync(join(sourceDir, 'arch/x86/entry.S'), '');
  writeFileSync(join(sourceDir, 'common/init.c'), '');
  writeFileSync(join(buildDir, 'include/generated.S'), '');
  const roots = { sourceDir, buildDir };
  assert.deepEqual(
    withoutStaleObjects(
      ['common/util.o', 'drivers/util.o', 'arch/x86/entry.o', 'common/init.init.o', 'include/generated.o'],
      roots,
    ),
    ['common/util.o', 'arch/x86/entry.o', 'common/init.init.o', 'include/generated.o'],
  );
  assert.deepEqual(
    withoutStaleObjects(['gone/a.o', 'gone/b.o'], roots),
    ['gone/a.o', 'gone/b.o'],
    'never down to nothing',
  );
});
