// A reused build dir keeps the last build's images: a failed build must not be judged by them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { checkBuildOutput } from '../../src/checks/index.ts';
import { tempDir } from '../helpers/cli.ts';

const ELF = '/usr/bin/true';

function buildDir(): string {
  const dir = tempDir('listci-images-');
  copyFileSync(ELF, join(dir, 'xen-syms'));
  copyFileSync(ELF, join(dir, '.xen-syms.1'));
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(join(dir, 'xen-syms'), hourAgo, hourAgo); // left by the previous (baseline) build
  return dir;
}

/** The image the checks pick in `dir` for a build that failed since `failedSinceMs` (or passed). */
function imageChecked(dir: string, failedSinceMs?: number) {
  return checkBuildOutput({
    buildDir: dir,
    image: 'xen-syms',
    intermediateImage: '.xen-syms.1',
    logText: '',
    failedSinceMs: failedSinceMs ?? null,
  });
}

test("a build stopped by Xen's duplicate check is judged by its .xen-syms.1, not an older xen-syms", async () => {
  const dir = buildDir();
  const out = await imageChecked(dir, Date.now() - 60_000);
  assert.equal(out.imageChecked, '.xen-syms.1');
});

test('a passing build is judged by its linked image even when make had nothing to relink', async () => {
  const dir = buildDir();
  const out = await imageChecked(dir);
  assert.equal(out.imageChecked, 'xen-syms');
});

test('a build that failed before linking has no image to check, and says so', async () => {
  const dir = buildDir();
  const out = await imageChecked(dir, Date.now() + 60_000);
  assert.equal(out.imageChecked, null);
  assert.match(out.problems.join('\n'), /was written by this build \(the link did not get that far\)/);
});
