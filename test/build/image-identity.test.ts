// An image rebuilt under the same name (Debian's gcc-12 updated, `listci images build` run
// again) is another compiler: its builds must not start from, or reuse, what the old one built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRunner } from '../../src/build/engine.ts';
import { runMatrix } from '../../src/build/matrix.ts';
import { podmanReady } from '../helpers/podman.ts';
import { fixtureCopy, RECIPE, toolchain } from './suite.ts';

const TAG = 'localhost/listci-test/rebuilt-gcc-12';

/** A new image under TAG: gcc-12's, with a label that gives it another ID. */
function buildUnderTag(dir: string, generation: number): string {
  writeFileSync(join(dir, 'Containerfile'), 'FROM localhost/listci/gcc-12\n');
  const label = `org.listci.test.generation=${generation}`;
  execFileSync('podman', ['build', '--pull=never', '-q', '-t', TAG, '--label', label, dir], {
    stdio: 'pipe',
  });
  return execFileSync('podman', ['image', 'inspect', '--format', '{{.Id}}', TAG], {
    encoding: 'utf8',
  }).trim();
}

test('a baseline built by an image is not reused, nor built on, once the image is rebuilt under its name', async () => {
  const socket = podmanReady(['gcc-12']);
  const { root, src } = fixtureCopy('listci-image-id-');
  const input = {
    runner: new ContainerRunner({ socketPath: socket }),
    recipe: RECIPE,
    toolchains: [toolchain('gcc-12', 'gcc-12', TAG)],
    workDir: join(root, 'work'),
    slot: '0',
    sourceDir: src,
    commit: 'c0ffee',
    trusted: true,
    phase: 'baseline' as const,
    changedSince: async () => [],
    parallel: 1,
    makeJobs: 2,
    limits: { memoryMb: 512, pids: 256, cpus: 1, timeoutMs: 60_000 },
    logCapBytes: 1 << 20,
    logDir: join(root, 'logs'),
  };
  const context = join(root, 'image');
  mkdirSync(context);
  try {
    const first = buildUnderTag(context, Date.now());
    const [built] = await runMatrix(input);
    assert.equal(built!.status, 'pass');
    const [again] = await runMatrix(input);
    assert.equal(again!.cached, true, 'the same image: the snapshot serves the baseline');

    const second = buildUnderTag(context, Date.now() + 1);
    assert.notEqual(second, first, 'the rebuilt image has a new ID');
    const [rebuilt] = await runMatrix(input);
    assert.equal(rebuilt!.status, 'pass');
    assert.equal(rebuilt!.cached, false, "the old image's snapshot is not the new image's baseline");
    assert.equal(rebuilt!.mode?.clean, true, `built clean, not on the old objects: ${rebuilt!.mode?.reason}`);
  } finally {
    execFileSync('podman', ['rmi', '-f', TAG], { stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
  }
});
