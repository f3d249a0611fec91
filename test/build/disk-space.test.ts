import { skipUnlessCi } from '../helpers/prerequisite.ts';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertRoom, WorkDirFullError } from '../../src/build/disk-space.ts';
import { LocalRunner } from '../../src/build/local.ts';
import { CappedLog } from '../../src/build/log-cap.ts';
import { tempDir } from '../helpers/cli.ts';

// A full work dir (a real 1 MiB tmpfs, filled with dd) is listci's problem: it is named as
// such, and a build log that cannot be written does not take the daemon down.

const skip = skipUnlessCi(process.getuid?.() !== 0 && 'mounting a small tmpfs needs root');
let dir: string;
let full: string;
const filler = () => join(full, 'filler');
before(() => {
  if (skip) return;
  dir = tempDir('listci-disk-');
  full = join(dir, 'work');
  mkdirSync(full);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'listci-test-disk', full]);
});
after(() => {
  if (skip) return;
  execFileSync('umount', [full]);
  rmSync(dir, { recursive: true, force: true });
});
const fill = () => spawnSync('dd', ['if=/dev/zero', `of=${filler()}`, 'bs=64k'], { stdio: 'ignore' });

test('a failure on a full work dir is listci\'s, even when git does not say "no space"', { skip }, () => {
  fill();
  try {
    const gitSays = 'error: The following untracked working tree files would be overwritten by merge:';
    assert.throws(
      () => assertRoom(full, 'applying patch 1/2', gitSays),
      (e: unknown) =>
        e instanceof WorkDirFullError &&
        /applying patch 1\/2: no space left on device: the work dir .* is full/.test(e.message),
    );
  } finally {
    rmSync(filler());
  }
  assert.doesNotThrow(() =>
    assertRoom(full, 'applying patch 1/2', 'error: patch failed: xen/common/util.c:3'),
  );
  assert.throws(
    () => assertRoom(full, 'series build under gcc', 'ld: final link failed: No space left on device'),
    /series build under gcc: no space left on device: ld: final link failed/,
  );
});

test("a build whose log cannot be written ends as listci's error, without a throw", { skip }, async () => {
  const log = new CappedLog(join(full, 'build.log'), 4 << 20);
  fill();
  try {
    assert.doesNotThrow(() => log.write(Buffer.alloc(256 << 10, 'x')));
    log.close();
    assert.match(log.writeError ?? '', /cannot write the build log .*build\.log: ENOSPC/);

    const outcome = await new LocalRunner().run({
      image: 'none',
      argv: ['sh', '-c', 'head -c 600000 /dev/zero | tr "\\0" x'],
      workdir: dir,
      mounts: [],
      env: {},
      limits: { memoryMb: 256, pids: 64, cpus: 1, timeoutMs: 10_000 },
      logPath: join(full, 'step.log'),
      logCapBytes: 4 << 20,
    });
    assert.match(outcome.botError ?? '', /no space left on device/i);
  } finally {
    rmSync(filler());
  }
});
