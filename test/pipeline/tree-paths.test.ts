import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findingsInTreePaths } from '../../src/pipeline/tree-paths.ts';

const roots = { source: ['/var/lib/listci/worktrees/wt-0', '/src'], build: ['/build'] };
const error = (file: string, message: string) => ({
  kind: 'compiler-error' as const,
  file,
  line: 8,
  message,
  excerpt: `${file}:8:13: error: ${message}`,
});

test('a compiler error names the file as the patch does, not where the bot checked it out', () => {
  const out = findingsInTreePaths(
    {
      duplicates: [],
      fileCollisions: [],
      errors: [
        error('/var/lib/listci/worktrees/wt-0/xen/common/util.c', "expected ';' before '}' token"),
        error('/src/xen/arch/x86/hvm/hvm.c', 'in /build/arch/x86/hvm/hvm.o, see /usr/src/linux/x.h'),
      ],
    },
    roots,
  );
  assert.deepEqual(
    out.errors.map((e) => [e.file, e.message, e.excerpt.split(':')[0]]),
    [
      ['xen/common/util.c', "expected ';' before '}' token", 'xen/common/util.c'],
      ['xen/arch/x86/hvm/hvm.c', 'in arch/x86/hvm/hvm.o, see /usr/src/linux/x.h', 'xen/arch/x86/hvm/hvm.c'],
    ],
  );
});

test('the same error from the confirming clean rebuild is one finding', () => {
  const e = error('/src/xen/common/util.c', "expected ';' before '}' token");
  const out = findingsInTreePaths({ duplicates: [], fileCollisions: [], errors: [e, { ...e }] }, roots);
  assert.equal(out.errors.length, 1);
});
