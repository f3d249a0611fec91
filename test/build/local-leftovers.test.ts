// A listci killed with -9 cannot stop its local build; the next build in that dir must.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalRunner } from '../../src/build/local.ts';
import { tempDir } from '../helpers/cli.ts';

const CHILD = new URL('../fixtures/build/local-step-child.ts', import.meta.url).pathname;

/** Running, not a zombie: when no ancestor reaps the orphan, it lingers as one after SIGKILL. */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

test('a build left running by a listci killed with -9 is killed by the next build in the same dir', async () => {
  const buildDir = tempDir('listci-leftover-');
  const marker = join(buildDir, 'step.pid');
  const listci = spawn(process.execPath, ['--import', 'tsx', CHILD, buildDir, marker], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(marker); i++) await sleep(100);
  const step = Number(readFileSync(marker, 'utf8'));
  listci.kill('SIGKILL');
  await new Promise((r) => listci.once('exit', r));
  assert.ok(alive(step), 'the orphaned build step outlives the killed listci');

  const next = await new LocalRunner().run({
    image: 'host',
    argv: ['true'],
    workdir: buildDir,
    mounts: [{ hostPath: buildDir, containerPath: '/build', readOnly: false }],
    env: {},
    limits: { memoryMb: 512, pids: 64, cpus: 1, timeoutMs: 10_000 },
    logPath: join(buildDir, 'next.log'),
    logCapBytes: 65536,
  });
  assert.equal(next.exitCode, 0);
  for (let i = 0; i < 20 && alive(step); i++) await sleep(50);
  assert.equal(alive(step), false, 'the next build killed the leftover');
});
