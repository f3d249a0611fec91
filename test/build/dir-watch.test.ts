// The build-dir watch stops a series that writes past build.maxBuildDirMb. It looks at the file
// system's usage first so it need not walk the dir every tick; this is the case that shortcut
// alone misses: another process frees space while the build writes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchBuildDir, type Exceeded } from '../../src/build/dir-watch.ts';
import { tempDir } from '../helpers/cli.ts';

const MB = 1024 * 1024;
// Random bytes: a file system that compresses or dedups must still allocate them.
const chunk = (mb: number) => Buffer.from(Array.from({ length: mb * MB }, () => (Math.random() * 256) | 0));

describe('build dir watch', () => {
  it('catches a build over its limit while another process frees more than it writes', async () => {
    const root = tempDir('listci-watch-');
    const build = join(root, 'build');
    mkdirSync(build);
    const other = join(root, 'someone-else');
    writeFileSync(other, chunk(24));
    let fired: Exceeded | null = null;
    const watch = watchBuildDir(build, {
      maxBytes: 4 * MB,
      workDir: root,
      intervalMs: 100,
      walkEveryMs: 600,
      onExceeded: (e) => (fired = e),
    });
    try {
      rmSync(other);
      writeFileSync(join(build, 'fill'), chunk(8));
      const t0 = Date.now();
      while (!fired && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      const e = fired as Exceeded | null;
      assert.equal(e?.kind, 'size', 'stopped although the file system as a whole shrank');
      assert.match(e.message, /wrote 8 MB into its build dir, over the limit of 4 MB/);
    } finally {
      watch.stop();
    }
  });

  it('leaves a build under its limit alone', async () => {
    const root = tempDir('listci-watch-');
    const build = join(root, 'build');
    mkdirSync(build);
    let fired = false;
    const watch = watchBuildDir(build, {
      maxBytes: 4 * MB,
      workDir: root,
      intervalMs: 50,
      walkEveryMs: 100,
      onExceeded: () => (fired = true),
    });
    writeFileSync(join(build, 'small'), chunk(1));
    await new Promise((r) => setTimeout(r, 500));
    await watch.checkNow();
    watch.stop();
    assert.equal(fired, false);
  });
});
