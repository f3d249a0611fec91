// A series' Makefile runs in the container and can write anything into its build dir. These
// tests post hostile series on the demo tree, built in Podman (gcc-12), each followed by an
// ordinary series in the same worktree slot on the same base: the hostile series gets a
// verdict of its own, the ordinary one gets exactly the verdict it gets on a fresh work dir,
// and nothing on the host outside the hostile build's own copy changes.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRunner } from '../../src/build/engine.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { CheckResult } from '../../src/contract.ts';
import { seriesFromRange } from '../../src/git/range.ts';
import { silentLogger } from '../../src/log.ts';
import { runCheck } from '../../src/pipeline/check.ts';
import { openDb } from '../../src/db/open.ts';
import { startWebServer } from '../../src/web/server.ts';
import { tempDir } from '../helpers/cli.ts';
import { podmanReady } from '../helpers/podman.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Contributor',
  GIT_AUTHOR_EMAIL: 'test@example.org',
  GIT_COMMITTER_NAME: 'Test Contributor',
  GIT_COMMITTER_EMAIL: 'test@example.org',
};
const FUTURE = '@4102444800'; // 2100-01-01

let socket: string;
let repo: string;
let canary: string;

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, ...IDENTITY } });
}

/** A branch off main with files replaced (path → content) or appended to (path → {append}). */
function branch(name: string, edits: Record<string, string | { append: string }>): string {
  git(['checkout', '-q', '-b', name, 'main']);
  for (const [path, edit] of Object.entries(edits)) {
    const file = join(repo, path);
    writeFileSync(file, typeof edit === 'string' ? edit : readFileSync(file, 'utf8') + edit.append);
  }
  git(['add', '-A']);
  git(['commit', '-q', '-m', `xen: ${name}`]);
  git(['checkout', '-q', 'main']);
  return name;
}

/** The demo Makefile with extra recipe lines run after the link (`all`) or in olddefconfig. */
function makefileWith(opts: { afterLink?: string[]; olddefconfig?: string[] }): string {
  let mk = readFileSync(join(repo, 'xen/Makefile'), 'utf8');
  const tab = (lines: string[] = []) => lines.map((l) => `\t${l}\n`).join('');
  mk = mk.replace('all: $(O)/xen-syms\n', `all: $(O)/xen-syms\n${tab(opts.afterLink)}`);
  mk = mk.replace(/^(olddefconfig:\n\tpython3 .*\n)/m, (m) => `${m}${tab(opts.olddefconfig)}`);
  return mk;
}

function workDir(extra = ''): string {
  const dir = tempDir('listci-poison-');
  writeFileSync(
    join(dir, 'listci.yaml'),
    `workDir: ./var
database: ./var/listci.db
repo: { url: ${repo}, defaultBranch: main, worktrees: 1 }
build:
  runner: podman
  socket: ${socket}
  toolchains: [ { name: gcc-12, cc: gcc-12 } ]
  timeoutMinutes: 5
${extra}`,
  );
  return dir;
}

async function check(dir: string, name: string): Promise<CheckResult> {
  const config = loadConfig({ path: join(dir, 'listci.yaml') });
  const { series } = await seriesFromRange(repo, `main..${name}`);
  return runCheck({
    config,
    series,
    runner: new ContainerRunner({ socketPath: socket }),
    mirror: { url: repo, path: join(config.workDir, 'mirror.git') },
    toolchains: config.build.toolchains,
    logDir: join(config.workDir, 'logs', `${name}-${Date.now()}`),
    log: silentLogger,
  });
}

/** What a maintainer reads of a result: the verdict and each new finding. */
function judged(r: CheckResult) {
  return {
    verdict: r.verdict,
    builds: r.builds
      .filter((b) => b.phase === 'series')
      .map((b) => ({
        toolchain: b.toolchain,
        verdict: b.verdict,
        status: b.status,
        duplicates: b.duplicates.new.map((d) => `${d.key} ${d.objects.join(',')}`),
        errors: b.errors
          .filter((e) => e.status === 'new')
          .map((e) => `${e.kind} ${e.file}:${e.line} ${e.message}`),
      })),
  };
}

/** Every file under dir with its size, mode and mtime: a snapshot must never change. */
function manifest(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = lstatSync(p);
      out.push(`${p.slice(dir.length)} ${st.size} ${st.mode.toString(8)} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

const canaryState = () => `${readFileSync(canary, 'utf8')} ${statSync(canary).mtimeMs}`;

// Ordinary series: one that adds a duplicate symbol (a new file next to common/util.c with the
// same static helper), one that breaks the compile of a file that already has an object.
const ORDINARY = {
  duplicate: 'ordinary-duplicate',
  brokenCompile: 'ordinary-broken-compile',
};
const reference: Record<string, ReturnType<typeof judged>> = {};

describe('a hostile series cannot touch another series, the baseline or the host', () => {
  before(async () => {
    socket = podmanReady(['gcc-12']);
    const dir = tempDir('listci-poison-repo-');
    repo = join(dir, 'tree');
    canary = join(dir, 'canary');
    writeFileSync(canary, 'host file\n');
    execFileSync(join(ROOT, 'demo/make-repo.sh'), [repo]);
    const util = readFileSync(join(repo, 'xen/common/util.c'), 'utf8');
    execFileSync('mkdir', ['-p', join(repo, 'xen/drivers')]);
    branch(ORDINARY.duplicate, {
      'xen/drivers/util.c': util.replace('common_parse', 'drivers_parse'),
    });
    branch(ORDINARY.brokenCompile, {
      'xen/common/console.c': { append: '\nint console_broken(void) { return undeclared_in_console; }\n' },
    });
    // What each ordinary series gets on a fresh work dir.
    for (const name of Object.values(ORDINARY)) reference[name] = judged(await check(workDir(), name));
    assert.equal(reference[ORDINARY.duplicate]!.verdict, 'fail');
    assert.match(reference[ORDINARY.duplicate]!.builds[0]!.duplicates.join(), /util\.c#parse_one/);
    assert.equal(reference[ORDINARY.brokenCompile]!.verdict, 'fail');
    assert.match(reference[ORDINARY.brokenCompile]!.builds[0]!.errors.join(), /undeclared_in_console/);
  });

  /** The hostile series, then each ordinary one in the same slot; returns the hostile result. */
  async function afterHostile(hostile: string, extraConfig = ''): Promise<CheckResult> {
    const dir = workDir(extraConfig);
    const before = canaryState();
    const bad = await check(dir, hostile);
    const snapshots = join(dir, 'var/snapshots');
    const kept = manifest(snapshots);
    assert.ok(kept.length > 0, 'the baseline was kept as a snapshot');
    for (const name of Object.values(ORDINARY)) {
      const r = await check(dir, name);
      assert.deepEqual(judged(r), reference[name], `${name} after ${hostile}: as on a fresh work dir`);
      assert.ok(r.builds.find((b) => b.phase === 'baseline')!.cached, 'on the same cached baseline');
    }
    assert.deepEqual(manifest(snapshots), kept, 'the snapshot is untouched');
    assert.equal(canaryState(), before, 'the host file is untouched');
    assert.deepEqual(readdirSync(join(dir, 'var/builds/gcc-12')), [], "no build's copy is left behind");
    return bad;
  }

  it('a .config and a stamp symlinked to a host file', async () => {
    const hostile = branch('hostile-symlink', {
      'xen/Makefile': makefileWith({
        olddefconfig: [`ln -sf ${canary} $(O)/.config`],
        afterLink: [`ln -sf ${canary} $(O)/.listci-config`],
      }),
    });
    const bad = await afterHostile(hostile);
    const b = bad.builds.find((x) => x.phase === 'series')!;
    assert.equal(bad.verdict, 'fail');
    assert.equal(b.mode?.rule, 'build-rules-changed', 'a Makefile change is built from scratch');
    assert.match(readFileSync(b.logPath!, 'utf8'), /\.config is a symlink, not a regular file/);
  });

  it('a fake xen-syms dated in the future', async () => {
    const hostile = branch('hostile-fake-image', {
      'xen/Makefile': makefileWith({
        afterLink: ['cp $(O)/main.o $(O)/xen-syms', `touch -d ${FUTURE} $(O)/xen-syms`],
      }),
    });
    const bad = await afterHostile(hostile);
    assert.equal(bad.verdict, 'pass', 'its own fake image has no duplicates: a verdict of its own');
  });

  it('every object dated in the future', async () => {
    const hostile = branch('hostile-future-objects', {
      'xen/Makefile': makefileWith({
        afterLink: [
          `find $(O) -name '*.o' -exec touch -d ${FUTURE} {} +`,
          `touch -d ${FUTURE} $(O)/xen-syms`,
        ],
      }),
    });
    const bad = await afterHostile(hostile);
    assert.equal(bad.verdict, 'pass');
  });

  it('a FIFO where the image should be: the check ends and the web page keeps answering', async () => {
    const hostile = branch('hostile-fifo', {
      'xen/Makefile': makefileWith({ afterLink: ['rm -f $(O)/xen-syms', 'mkfifo $(O)/xen-syms'] }),
    });
    const dir = workDir();
    const db = join(dir, 'var/listci.db');
    execFileSync('mkdir', ['-p', join(dir, 'var')]);
    openDb(db).close();
    const web = await startWebServer({ dbPath: db, host: '127.0.0.1', port: 0 });
    let slowest = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t = Date.now();
        const res = await fetch(`${web.url}/healthz`);
        assert.equal(res.status, 200);
        slowest = Math.max(slowest, Date.now() - t);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const started = Date.now();
    let bad: CheckResult;
    try {
      bad = await check(dir, hostile);
    } finally {
      polling = false;
      await poller;
      await web.close();
    }
    assert.ok(Date.now() - started < 120_000, 'the check ended well within its time limit');
    assert.ok(slowest < 1000, `the web server answered within ${slowest} ms throughout`);
    assert.equal(bad.verdict, 'fail');
    const b = bad.builds.find((x) => x.phase === 'series')!;
    assert.match(
      b.errors.map((e) => e.message).join('\n'),
      /xen-syms is a FIFO, not a regular file: not the linked image/,
    );
    await afterHostile(hostile);
  });

  it("a Makefile that never ends is stopped at a multiple of the base's clean build time", async () => {
    const hostile = branch('hostile-endless', {
      'xen/Makefile': makefileWith({ afterLink: ['sleep 600'] }),
    });
    const started = Date.now();
    // The demo's clean build takes a few seconds: 5 times that, at least 0.1 min, is the limit.
    const bad = await afterHostile(hostile, '  seriesTimeoutFactor: 5\n  seriesTimeoutFloorMinutes: 0.1\n');
    const b = bad.builds.find((x) => x.phase === 'series')!;
    assert.equal(bad.verdict, 'fail', bad.summary);
    assert.equal(b.status, 'timeout');
    assert.equal(b.botError, null, "the series' doing, not listci's");
    assert.match(b.stopped ?? '', /^the build ran past \d+ s \(5× the \d+ s a clean build of the base took/);
    assert.ok(Date.now() - started < 120_000, 'stopped long before the 5 minute build.timeoutMinutes');
  });

  it('the compiler cache: trusted baselines fill it, a series cannot write it', async () => {
    const hostile = branch('hostile-ccache', {
      'xen/Makefile': makefileWith({
        afterLink: [
          // "-": make goes on when the write fails, so the build itself passes.
          '-echo planted > /ccache/planted',
          "-find /ccache -type f -name '*R' -exec cp $(O)/main.o {} \\;",
        ],
      }),
    });
    const dir = workDir();
    const first = await check(dir, ORDINARY.duplicate);
    assert.deepEqual(judged(first), reference[ORDINARY.duplicate]);
    const cache = join(dir, 'var/ccache/gcc-12');
    const filled = manifest(cache);
    assert.ok(
      filled.filter((l) => / 100\d{3} /.test(l)).length >= 3,
      `the trusted baseline wrote the cache: ${filled.length} entries`,
    );
    const bad = await check(dir, hostile);
    assert.equal(bad.verdict, 'pass');
    const log = readFileSync(bad.builds.find((b) => b.phase === 'series')!.logPath!, 'utf8');
    assert.match(log, /\/ccache\/planted: Read-only file system/);
    assert.deepEqual(manifest(cache), filled, 'the cache is as the baseline left it');
    for (const name of Object.values(ORDINARY)) {
      const r = await check(dir, name);
      assert.deepEqual(judged(r), reference[name], `${name} after ${hostile}: as on a fresh work dir`);
    }
    assert.deepEqual(manifest(cache), filled, 'ordinary series only read it');
  });

  it('a build that fills the disk is stopped at its size limit, and the slot works again', async () => {
    const hostile = branch('hostile-disk-fill', {
      'xen/Makefile': makefileWith({
        afterLink: ['dd if=/dev/zero of=$(O)/fill bs=1M count=120 status=none', 'sleep 60'],
      }),
    });
    const started = Date.now();
    const bad = await afterHostile(hostile, '  maxBuildDirMb: 50\n');
    const b = bad.builds.find((x) => x.phase === 'series')!;
    assert.equal(bad.verdict, 'fail');
    assert.equal(b.botError, null, "the series' doing, not listci's");
    assert.match(b.stopped ?? '', /over the limit of 50 MB \(build\.maxBuildDirMb\)/);
    assert.ok(Date.now() - started < 60_000, 'stopped, not left to sleep out its minute');
  });
});
