// The daemon's idle work: when a fetch moves a watched branch, the trusted baseline of its new
// head is built before any series asks for it, and a waiting check stops the warm-up between
// toolchains. Demo tree, real git, Podman (gcc-12).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRunner } from '../../src/build/engine.ts';
import { loadConfig, type Config } from '../../src/config/load.ts';
import { WarmUps } from '../../src/daemon/warm-ups.ts';
import { seriesFromRange } from '../../src/git/range.ts';
import { silentLogger } from '../../src/log.ts';
import { runCheck } from '../../src/pipeline/check.ts';
import { tempDir } from '../helpers/cli.ts';
import { podmanReady } from '../helpers/podman.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Maintainer',
  GIT_AUTHOR_EMAIL: 'maintainer@example.org',
  GIT_COMMITTER_NAME: 'Test Maintainer',
  GIT_COMMITTER_EMAIL: 'maintainer@example.org',
};

let socket: string;
let repo: string;

function git(args: string[]): string {
  return execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, ...IDENTITY },
  }).trim();
}

/** Upstream's main moves by one commit. */
function moveMain(n: number): string {
  git(['checkout', '-q', 'main']);
  appendFileSync(join(repo, 'xen/common/console.c'), `\nint staging_move_${n};\n`);
  git(['commit', '-q', '-am', `xen: staging move ${n}`]);
  return git(['rev-parse', 'HEAD']);
}

function setup(toolchains: string): { config: Config; warm: WarmUps } {
  const dir = tempDir('listci-warm-');
  writeFileSync(
    join(dir, 'listci.yaml'),
    `workDir: ./var
database: ./var/listci.db
repo: { url: ${repo}, mirror: ./var/mirror.git, defaultBranch: main, worktrees: 1, fetchIntervalMinutes: 0.01 }
build:
  runner: podman
  socket: ${socket}
  toolchains: ${toolchains}
  timeoutMinutes: 5
`,
  );
  const config = loadConfig({ path: join(dir, 'listci.yaml') });
  const warm = new WarmUps({
    config,
    runner: new ContainerRunner({ socketPath: socket }),
    mirror: { url: repo, path: config.repo.mirror },
    log: silentLogger,
    recentRefs: () => [],
  });
  return { config, warm };
}

const snapshotOf = (config: Config, toolchain: string, commit: string): boolean =>
  existsSync(join(config.workDir, 'snapshots', toolchain)) &&
  readdirSync(join(config.workDir, 'snapshots', toolchain)).some(
    (n) => n.startsWith(`${commit}-`) && n.endsWith('.json'),
  );

/** Until `done()` holds, polling every 200 ms. */
async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('warm-ups: the base is built before the series comes', () => {
  before(() => {
    socket = podmanReady(['gcc-12']);
    repo = join(tempDir('listci-warm-repo-'), 'tree');
    execFileSync(join(ROOT, 'demo/make-repo.sh'), [repo]);
  });

  it('a moved main gets its baseline while idle, and the next series on it finds it built', async () => {
    const { config, warm } = setup('[ { name: gcc-12, cc: gcc-12 } ]');
    const first = git(['rev-parse', 'main']);
    assert.equal(await warm.step(() => false), true, 'the first step builds the head of main');
    assert.ok(snapshotOf(config, 'gcc-12', first));
    assert.equal(await warm.step(() => false), false, 'nothing to do while main stays');

    const moved = moveMain(1);
    await new Promise((r) => setTimeout(r, 1000)); // past fetchIntervalMinutes
    assert.equal(await warm.step(() => false), true);
    assert.ok(snapshotOf(config, 'gcc-12', moved), 'the new head was built after the fetch');

    git(['checkout', '-q', '-b', 'contributor', 'main']);
    appendFileSync(join(repo, 'xen/common/util.c'), '\nint contributor_change;\n');
    git(['commit', '-q', '-am', 'xen: a contributor change']);
    git(['checkout', '-q', 'main']);
    const { series } = await seriesFromRange(repo, 'main..contributor');
    const r = await runCheck({
      config,
      series,
      runner: new ContainerRunner({ socketPath: socket }),
      mirror: { url: repo, path: config.repo.mirror },
      toolchains: config.build.toolchains,
      logDir: join(config.workDir, 'logs', 'contributor'),
      log: silentLogger,
    });
    assert.equal(r.base?.commit, moved);
    const baseline = r.builds.find((b) => b.phase === 'baseline')!;
    assert.equal(baseline.cached, true, 'the series did not wait for its base');
    assert.equal(r.verdict, 'pass', r.summary);
  });

  it('the daemon, with no mail at all, builds the base of main once a fetch sees it move', async () => {
    const dir = tempDir('listci-warm-daemon-');
    const config = join(dir, 'listci.yaml');
    writeFileSync(
      config,
      `workDir: ./var
database: ./var/listci.db
mail: { source: { type: maildir, path: ./inbox, pollSeconds: 1 } }
repo: { url: ${repo}, mirror: ./var/mirror.git, defaultBranch: main, worktrees: 1, fetchIntervalMinutes: 0.02 }
build: { runner: podman, socket: ${socket}, toolchains: [ { name: gcc-12, cc: gcc-12 } ] }
web: { enabled: false }
`,
    );
    execFileSync('mkdir', ['-p', join(dir, 'inbox/new'), join(dir, 'inbox/cur'), join(dir, 'inbox/tmp')]);
    const bin = join(ROOT, 'bin/listci.js');
    execFileSync(process.execPath, [bin, 'db', 'migrate', '-c', config]);
    const daemon = spawn(process.execPath, [bin, 'daemon', '-c', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    daemon.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const snaps = join(dir, 'var/snapshots/gcc-12');
    const has = (commit: string) =>
      existsSync(snaps) && readdirSync(snaps).some((n) => n.startsWith(`${commit}-`) && n.endsWith('.json'));
    try {
      await until(() => has(git(['rev-parse', 'main'])), 120_000, `warm-up of main\n${log}`);
      const moved = moveMain(3);
      await until(() => has(moved), 120_000, `warm-up of the moved main\n${log}`);
      assert.match(log, /baseline warm/);
    } finally {
      daemon.kill('SIGTERM');
      await once(daemon, 'exit');
    }
  });

  it('a waiting check stops the warm-up between toolchains; the rest is built on a later step', async () => {
    const { config, warm } = setup(
      '[ { name: gcc-12, cc: gcc-12 }, { name: gcc-12-again, image: listci/gcc-12, cc: gcc-12 } ]',
    );
    const head = moveMain(2);
    let asked = 0;
    // The check "arrives" once the first toolchain is built.
    assert.equal(await warm.step(() => asked++ > 0), true);
    assert.ok(snapshotOf(config, 'gcc-12', head));
    assert.ok(!snapshotOf(config, 'gcc-12-again', head), 'the second toolchain waited');
    assert.deepEqual(readdirSync(join(config.workDir, 'builds', 'gcc-12')), [], 'no build dir left');
    assert.equal(await warm.step(() => false), true);
    assert.ok(snapshotOf(config, 'gcc-12-again', head), 'built once the check was done');
  });
});
