import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBuildFile, statBuildFile } from '../../src/safe-file.ts';
import { tempDir } from '../helpers/cli.ts';

// What a hostile build can leave where listci expects its own files.
function buildDir(): { dir: string; host: string } {
  const root = tempDir('listci-safe-');
  const dir = join(root, 'build');
  mkdirSync(join(dir, 'arch'), { recursive: true });
  const host = join(root, 'listci.db');
  writeFileSync(host, 'the host file');
  return { dir, host };
}

test('a regular file is read; a missing one is null', async () => {
  const { dir } = buildDir();
  writeFileSync(join(dir, '.config'), 'CONFIG_LIVEPATCH=y\n');
  assert.equal((await readBuildFile(dir, '.config', 1024))?.toString(), 'CONFIG_LIVEPATCH=y\n');
  assert.equal(await readBuildFile(dir, 'xen-syms', 1024), null);
  assert.equal(await statBuildFile(dir, 'xen-syms'), null);
});

test('a symlink to a host file is refused, as the file and as a directory on the way', async () => {
  const { dir, host } = buildDir();
  symlinkSync(host, join(dir, '.config'));
  await assert.rejects(readBuildFile(dir, '.config', 1024), {
    name: 'UnsafeFileError',
    message: '.config is a symlink, not a regular file',
  });
  await assert.rejects(statBuildFile(dir, '.config'), {
    message: '.config is a symlink, not a regular file',
  });
  symlinkSync(join(host, '..'), join(dir, 'common'));
  await assert.rejects(readBuildFile(dir, 'common/listci.db', 1024), {
    message: 'common/listci.db: common is a symlink, not a directory',
  });
  await assert.rejects(readBuildFile(dir, '../listci.db', 1024), { name: 'UnsafeFileError' });
});

test('a FIFO is refused at once instead of blocking the reader', async () => {
  const { dir } = buildDir();
  execFileSync('mkfifo', [join(dir, 'xen-syms')]);
  const started = Date.now();
  await assert.rejects(readBuildFile(dir, 'xen-syms', 1024), {
    message: 'xen-syms is a FIFO, not a regular file',
  });
  assert.ok(Date.now() - started < 1000);
});

test('a file over the cap is refused without being read, sparse or not', async () => {
  const { dir } = buildDir();
  writeFileSync(join(dir, 'arch', 'big.o'), '');
  truncateSync(join(dir, 'arch', 'big.o'), 10 * 1024 * 1024 * 1024);
  await assert.rejects(readBuildFile(dir, 'arch/big.o', 1024 * 1024), {
    message: 'arch/big.o is 10240 MB, over the 1 MB listci reads',
  });
});
