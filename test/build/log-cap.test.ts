// A runaway build log keeps the start (first error) and the end (make's verdict), and says what it dropped.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CappedLog } from '../../src/build/log-cap.ts';

it('keeps head and tail of a log over its cap and says how many bytes were dropped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'listci-log-'));
  try {
    const path = join(dir, 'build.log');
    const log = new CappedLog(path, 100);
    log.write('common/kernel.c:12: error: first error\n');
    for (let i = 0; i < 1000; i++) log.write(`  CC      file${i}.o\n`);
    log.write('make: *** [Makefile:42: all] Error 2\n');
    log.close();
    const text = readFileSync(path, 'utf8');
    assert.ok(log.truncated);
    assert.ok(text.startsWith('common/kernel.c:12: error: first error\n'));
    assert.ok(text.endsWith('make: *** [Makefile:42: all] Error 2\n'));
    const m = /\[listci: (\d+) bytes of build output dropped here \(log cap\)\]/.exec(text);
    assert.ok(m, text);
    // What was kept plus what was dropped is everything that was written.
    const total =
      'common/kernel.c:12: error: first error\n'.length +
      totalCc() +
      'make: *** [Makefile:42: all] Error 2\n'.length;
    assert.equal(text.length - m[0].length - 2 + Number(m[1]), total);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function totalCc(): number {
  let n = 0;
  for (let i = 0; i < 1000; i++) n += `  CC      file${i}.o\n`.length;
  return n;
}

it('leaves a log under its cap untouched', () => {
  const dir = mkdtempSync(join(tmpdir(), 'listci-log-'));
  try {
    const path = join(dir, 'build.log');
    const log = new CappedLog(path, 1000);
    log.write('  CC      common/kernel.o\n');
    log.close();
    assert.equal(readFileSync(path, 'utf8'), '  CC      common/kernel.o\n');
    assert.equal(log.truncated, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
