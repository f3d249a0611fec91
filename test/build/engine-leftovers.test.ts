// A worker or daemon killed with -9 leaves its build container running; its own next start
// removes it, and only it: other owners' builds on the same engine go on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { ContainerRunner } from '../../src/build/engine.ts';
import { tempDir } from '../helpers/cli.ts';
import { podmanReady } from '../helpers/podman.ts';

const CHILD = new URL('../fixtures/build/container-step-child.ts', import.meta.url).pathname;

test("a build container left by a worker killed with -9 is removed by its owner's clean-up, not by another owner's", async () => {
  const socket = podmanReady(['gcc-12']);
  const docker = new Docker({ socketPath: socket });
  const root = tempDir('listci-engine-leftover-');
  chmodSync(root, 0o755);
  const owners = ['worker:leftover-a', 'worker:leftover-b'];
  const running = async (owner: string) =>
    (
      await docker.listContainers({
        all: true,
        filters: { label: ['org.listci.build=1', `org.listci.owner=${owner}`] },
      })
    ).length;

  const children = owners.map((owner, i) => {
    const dir = join(root, `build-${i}`);
    mkdirSync(dir);
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, socket, owner, dir], {
      stdio: 'ignore',
    });
    return { owner, dir, child };
  });
  try {
    for (const c of children) {
      for (let i = 0; i < 300 && !existsSync(join(c.dir, 'started')); i++) await sleep(100);
      assert.ok(existsSync(join(c.dir, 'started')), `${c.owner}'s build step started`);
      c.child.kill('SIGKILL');
      await new Promise((r) => c.child.once('exit', r));
    }
    for (const owner of owners)
      assert.equal(await running(owner), 1, `${owner}'s container outlives the killed process`);

    const removed = await new ContainerRunner({ socketPath: socket, owner: owners[0] }).removeLeftovers();
    assert.equal(removed, 1, 'the restarted worker removes its one leftover');
    assert.equal(await running(owners[0]!), 0, "the restarted worker's leftover is gone");
    assert.equal(await running(owners[1]!), 1, "the other worker's build is left alone");
  } finally {
    for (const c of children) c.child.kill('SIGKILL');
    for (const owner of owners) await new ContainerRunner({ socketPath: socket, owner }).removeLeftovers();
    rmSync(root, { recursive: true, force: true });
  }
});
