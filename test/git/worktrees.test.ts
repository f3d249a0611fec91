import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { applySeries } from '../../src/git/apply.ts';
import { WorktreePool, worktreeGitDir } from '../../src/git/worktrees.ts';
import {
  commitFile,
  contributorClone,
  makeUpstream,
  post,
  rm,
  sh,
  status,
  type Upstream,
} from './helpers.ts';

let up: Upstream;

before(async () => {
  up = await makeUpstream('wt');
});
after(() => rm(up.root));

function twoPatches(name: string) {
  const clone = contributorClone(up, name, up.staging);
  commitFile(clone, 'xen/arch/x86/a.c', 'int a;\n', 'x86: add a.c');
  commitFile(clone, 'xen/arch/x86/a.c', 'int a;\nint b;\n', 'x86: add b');
  return post(clone, 'HEAD~2..HEAD', { id: name });
}

describe('worktree pool', () => {
  it('never hands out more worktrees than configured, and reuses them', async () => {
    const pool = new WorktreePool({
      mirror: up.mirror.path,
      dir: join(up.root, 'pool1'),
      size: 2,
      pollMs: 20,
    });
    const a = await pool.acquire();
    const b = await pool.acquire();
    let third: string | null = null;
    const waiting = pool.acquire().then((w) => {
      third = w.path;
      return w;
    });
    await sleep(100);
    assert.equal(third, null, 'a third job waits while both worktrees are busy');
    a.release();
    const c = await waiting;
    assert.equal(c.path, a.path, 'the released worktree is reused');
    assert.equal(pool.list().length, 2);
    b.release();
    c.release();
  });

  it('takes over a slot whose holder died, and shrinks to the configured size', async () => {
    const dir = join(up.root, 'pool2');
    const big = new WorktreePool({ mirror: up.mirror.path, dir, size: 3 });
    const ws = [await big.acquire(), await big.acquire(), await big.acquire()];
    ws.forEach((w) => w.release());
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'wt-0.lock'), '999999999\n'); // a pid that cannot be alive
    const small = new WorktreePool({ mirror: up.mirror.path, dir, size: 1 });
    const w = await small.acquire();
    assert.equal(w.slot, 0);
    assert.deepEqual(small.list(), [w.path]);
    const registered = sh(up.mirror.path, 'worktree', 'list', '--porcelain')
      .split('\n')
      .filter((l) => l.startsWith(`worktree ${dir}/`));
    assert.deepEqual(registered, [`worktree ${w.path}`], 'git knows only the one worktree left in this pool');
    w.release();
  });

  it('recovers after git am was killed with -9 halfway through a series', async () => {
    const pool = new WorktreePool({ mirror: up.mirror.path, dir: join(up.root, 'pool3'), size: 1 });
    const series = twoPatches('killed');
    let w = await pool.acquire();
    const first = await applySeries(w.path, up.staging, series.patches);
    assert.equal(first.result.ok, true);

    // A job runs `git am` on both patches; a hook makes it stop after the first patch's
    // files are written but before its commit, and then the job is killed with -9.
    sh(w.path, 'checkout', '-q', '--detach', up.staging);
    const hooks = join(up.root, 'slow-hooks');
    mkdirSync(hooks, { recursive: true });
    const marker = join(up.root, 'in-hook');
    writeFileSync(join(hooks, 'pre-applypatch'), `#!/bin/sh\ntouch '${marker}'\nexec sleep 60\n`);
    chmodSync(join(hooks, 'pre-applypatch'), 0o755);
    const mbox = join(up.root, 'series.mbox');
    writeFileSync(mbox, Buffer.concat(series.patches.map((p) => p.raw)));
    const child = spawn('git', ['-c', `core.hooksPath=${hooks}`, 'am', '-3', mbox], {
      cwd: w.path,
      detached: true,
      stdio: 'ignore',
      env: {
        ...process.env,
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_COMMITTER_NAME: 'x',
        GIT_COMMITTER_EMAIL: 'x@y',
      },
    });
    for (let i = 0; i < 200 && !existsSync(marker); i++) await sleep(25);
    assert.ok(existsSync(marker), 'git am reached the hook');
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((res) => child.once('exit', res));
    const gitDir = worktreeGitDir(w.path);
    assert.ok(existsSync(join(gitDir, 'rebase-apply')), 'the kill left a half-done am');
    writeFileSync(join(gitDir, 'index.lock'), ''); // and, as a killed writer would, a lock
    writeFileSync(join(w.path, 'xen', 'stray.o'), 'junk');
    assert.notEqual(status(w.path), '');
    w.release();

    // The next job on that worktree: recovery at acquire, then a normal apply.
    w = await pool.acquire();
    assert.ok(w.recovered.includes('removed index.lock'), w.recovered.join('; '));
    assert.ok(
      w.recovered.some((a) => /half-done git am/.test(a)),
      w.recovered.join('; '),
    );
    assert.equal(status(w.path), '');
    assert.ok(!existsSync(join(gitDir, 'rebase-apply')));
    const next = await applySeries(w.path, up.staging, series.patches);
    assert.equal(next.result.ok, true, next.result.error ?? '');
    assert.equal(next.commits.length, 2);
    w.release();
  });

  it('recreates a worktree whose directory was deleted by hand', async () => {
    const dir = join(up.root, 'pool4');
    const pool = new WorktreePool({ mirror: up.mirror.path, dir, size: 1 });
    let w = await pool.acquire();
    w.release();
    rm(w.path);
    w = await pool.acquire();
    assert.ok(existsSync(join(w.path, 'xen', 'common', 'sched.c')));
    const r = await applySeries(w.path, up.staging, twoPatches('deleted').patches);
    assert.equal(r.result.ok, true, r.result.error ?? '');
    w.release();
  });

  it('stops a git call when the job is cancelled', async () => {
    const pool = new WorktreePool({ mirror: up.mirror.path, dir: join(up.root, 'pool5'), size: 1 });
    const w = await pool.acquire();
    const hooks = join(up.root, 'slow-hooks-2');
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, 'applypatch-msg'), '#!/bin/sh\nexec sleep 30\n');
    chmodSync(join(hooks, 'applypatch-msg'), 0o755);
    sh(up.mirror.path, 'config', 'core.hooksPath', hooks);
    try {
      const ac = new AbortController();
      const t0 = Date.now();
      setTimeout(() => ac.abort(), 300);
      await assert.rejects(
        applySeries(w.path, up.staging, twoPatches('cancel').patches, { signal: ac.signal }),
      );
      assert.ok(Date.now() - t0 < 10_000, 'returned promptly');
    } finally {
      sh(up.mirror.path, 'config', '--unset', 'core.hooksPath');
    }
    w.release();
    const again = await pool.acquire();
    const r = await applySeries(again.path, up.staging, twoPatches('after-cancel').patches);
    assert.equal(r.result.ok, true, r.result.error ?? '');
    again.release();
  });
});
