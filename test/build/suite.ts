// The build behaviour a Xen maintainer relies on, run against any Runner: the container engine
// (isolated) and the local runner (not isolated: it runs no isolation tests and says it is not).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import type { ToolchainConfig } from '../../src/config/schema.ts';
import { mountsFor, runRecipe, XEN_RECIPE, type RecipeConfig } from '../../src/build/recipe.ts';
import { runMatrix } from '../../src/build/matrix.ts';
import { runBuildDir, type ProgressEvent } from '../../src/build/toolchain-build.ts';
import type { RunSpec, Runner } from '../../src/build/runner.ts';

export const FIXTURE = new URL('../fixtures/build/xen-like-tree', import.meta.url).pathname;

export const RECIPE: RecipeConfig = XEN_RECIPE;

export function toolchain(name: string, cc: string, image: string | null): ToolchainConfig {
  return { name, image, cc, hostcc: null, makeArgs: [], configFragment: [] };
}

const LIMITS = { memoryMb: 512, pids: 256, cpus: 1, timeoutMs: 60_000 };

/** A temporary dir holding a fresh copy of the fixture tree at root/src. */
export function fixtureCopy(prefix: string): { root: string; src: string } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { root, src: freshTree(root) };
}

/** A fresh copy of the fixture tree, world-readable as a worktree must be for a non-root build user. */
function freshTree(root: string): string {
  const src = join(root, 'src');
  cpSync(FIXTURE, src, { recursive: true });
  chmodSync(root, 0o755);
  return src;
}

export function runnerSuite(
  label: string,
  makeRunner: () => Runner,
  toolchains: ToolchainConfig[],
  imageOf: (t: ToolchainConfig) => string,
  isolated: boolean,
): void {
  describe(`${label}: building a Xen-like tree`, () => {
    let root: string;
    let runner: Runner;
    before(() => {
      root = mkdtempSync(join(tmpdir(), 'listci-build-'));
      runner = makeRunner();
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    /** One make target of the fixture, in its own build dir. */
    async function target(
      name: string,
      limits = LIMITS,
      image = imageOf(toolchains[0]!),
      vars: string[] = [],
    ) {
      const dir = mkdtempSync(join(root, `${name}-`));
      const src = freshTree(dir);
      const build = join(dir, 'build');
      cpSync(FIXTURE, src, { recursive: true });
      const { mkdirSync } = await import('node:fs');
      mkdirSync(build);
      const mounts = mountsFor(src, build);
      const logPath = join(dir, 'log');
      const spec: RunSpec = {
        image,
        argv: [
          'make',
          '-C',
          `${runner.pathIn(mounts[0]!)}/xen`,
          `O=${runner.pathIn(mounts[1]!)}`,
          ...vars,
          name,
        ],
        workdir: runner.pathIn(mounts[1]!),
        mounts,
        env: {},
        limits,
        logPath,
        logCapBytes: 64 * 1024,
      };
      writeFileSync(logPath, '');
      const outcome = await runner.run(spec);
      return { outcome, log: readFileSync(logPath, 'utf8'), src };
    }

    for (const tc of toolchains) {
      it(`builds out of tree under ${tc.name} with LIVEPATCH and ENFORCE_UNIQUE_SYMBOLS in .config`, async () => {
        const dir = mkdtempSync(join(root, `ok-${tc.name}-`));
        const src = freshTree(dir);
        const build = join(dir, 'build');
        const { mkdirSync } = await import('node:fs');
        mkdirSync(build);
        const r = await runRecipe({
          runner,
          recipe: RECIPE,
          toolchain: tc,
          image: imageOf(tc),
          sourceDir: src,
          buildDir: build,
          configured: false,
          makeJobs: 2,
          limits: LIMITS,
          logPath: join(dir, 'log'),
          logCapBytes: 1 << 20,
        });
        const log = readFileSync(join(dir, 'log'), 'utf8');
        assert.equal(r.outcome.botError, null, log);
        assert.equal(r.outcome.exitCode, 0, log);
        assert.equal(r.step, 'make');
        assert.ok(existsSync(join(build, 'xen-syms')), 'xen-syms linked in the build dir');
        const config = readFileSync(join(build, '.config'), 'utf8');
        assert.match(config, /^CONFIG_LIVEPATCH=y$/m);
        assert.match(config, /^CONFIG_ENFORCE_UNIQUE_SYMBOLS=y$/m);
        // The fragment replaced defconfig's lines: no "override: reassigning" noise of listci's.
        assert.equal(config.match(/^(# )?CONFIG_LIVEPATCH[= ]/gm)?.length, 1, config);
        assert.doesNotMatch(log, /override: reassigning/);
        assert.deepEqual(
          readdirSync(join(src, 'xen')).sort(),
          readdirSync(join(FIXTURE, 'xen')).sort(),
          'nothing written into the source tree',
        );
        // The compiler that ran is the toolchain's, as the log shows.
        assert.match(log, new RegExp(`^${tc.cc} -O2`, 'm'));
      });
    }

    it("catches a config fragment that did not take effect (a dependency turned it off) as the bot's config error", async () => {
      const dir = mkdtempSync(join(root, 'frag-'));
      const src = freshTree(dir);
      const build = join(dir, 'build');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(build);
      const tc = { ...toolchains[0]!, configFragment: ['# CONFIG_LIVEPATCH is not set'] };
      const r = await runRecipe({
        runner,
        recipe: { ...RECIPE, configFragment: ['CONFIG_ENFORCE_UNIQUE_SYMBOLS=y'] },
        toolchain: tc,
        image: imageOf(tc),
        sourceDir: src,
        buildDir: build,
        configured: false,
        makeJobs: 2,
        limits: LIMITS,
        logPath: join(dir, 'log'),
        logCapBytes: 1 << 20,
      });
      assert.equal(r.step, 'verify-config');
      assert.equal(
        r.configError,
        `${tc.name}: CONFIG_ENFORCE_UNIQUE_SYMBOLS=y requested but .config has '# CONFIG_ENFORCE_UNIQUE_SYMBOLS is not set'`,
      );
      assert.ok(!existsSync(join(build, 'xen-syms')), 'make did not run');
    });

    it('kills a build past its time limit and reports a timeout', async () => {
      const { outcome, log } = await target('hang', { ...LIMITS, timeoutMs: 2000 });
      assert.equal(outcome.timedOut, true);
      assert.equal(outcome.exitCode, null);
      assert.equal(outcome.botError, null, "a timeout is the build's, not the bot's");
      assert.ok(outcome.durationMs < 15_000, `killed promptly (${outcome.durationMs} ms)`);
      assert.match(log, /killed after the time limit of 2 s/);
    });

    it('runs the toolchains of a run in parallel, reuses the baseline, and rebuilds only what a patch changed', async () => {
      const dir = mkdtempSync(join(root, 'matrix-'));
      const src = freshTree(dir);
      const events: ProgressEvent[] = [];
      const common = {
        runner,
        recipe: RECIPE,
        toolchains,
        workDir: join(dir, 'work'),
        slot: '0',
        sourceDir: src,
        commit: 'c0ffee',
        trusted: true,
        changedSince: async () => ['xen/common/symbols.c'],
        parallel: 2,
        makeJobs: 2,
        limits: LIMITS,
        logCapBytes: 1 << 20,
        logDir: join(dir, 'logs'),
        onProgress: (e: ProgressEvent) => events.push(e),
        check: async (c: { buildDir: string; image: string; status: string }) => ({
          linked: existsSync(join(c.buildDir, c.image)),
          status: c.status,
        }),
      };
      const first = await runMatrix({ ...common, phase: 'baseline' });
      assert.deepEqual(
        first.map((b) => [b.toolchain, b.status, b.cached]),
        toolchains.map((t) => [t.name, 'pass', false]),
      );
      assert.deepEqual(first[0]!.check, { linked: true, status: 'pass' });
      const again = await runMatrix({ ...common, phase: 'baseline' });
      assert.deepEqual(
        again.map((b) => b.cached),
        toolchains.map(() => true),
        'same base, same config: served from the cache',
      );
      assert.deepEqual(again[0]!.check, { linked: true, status: 'pass' });

      // A one-file patch: only that object is recompiled in the persistent build dir.
      writeFileSync(
        join(src, 'xen/common/symbols.c'),
        'static int lookup_count;\n\nint symbols_lookup(int x)\n{\n    return x + lookup_count++ + 1;\n}\n',
      );
      const series = await runMatrix({ ...common, phase: 'series', startFrom: again });
      assert.deepEqual(
        series.map((b) => b.status),
        toolchains.map(() => 'pass'),
      );
      const log = readFileSync(series[0]!.logPath!, 'utf8');
      assert.equal(series[0]!.recipe!.reusedConfig, true, 'config steps skipped on a warm build dir');
      assert.match(log, /symbols\.c/);
      assert.doesNotMatch(log, /livepatch\.c/, 'unchanged files are not recompiled');
      assert.ok(existsSync(join(again[0]!.buildDir, 'xen-syms')), 'the baseline snapshot is kept');
      assert.match(again[0]!.buildDir, /\/snapshots\//);
      assert.ok(
        !existsSync(runBuildDir(common.workDir, toolchains[0]!.name, '0', 'series')),
        "the series' copy is thrown away after the checks",
      );
      const done = events.filter((e) => e.state === 'done');
      assert.equal(done.length, toolchains.length * 3, 'a done event per toolchain and phase');
      assert.ok(events.some((e) => e.state === 'step' && e.step === 'make'));
    });

    it('confirms a failing incremental series build with a clean rebuild before blaming the series', async () => {
      const dir = mkdtempSync(join(root, 'confirm-'));
      const src = freshTree(dir);
      const common = {
        runner,
        recipe: RECIPE,
        toolchains: [toolchains[0]!],
        workDir: join(dir, 'work'),
        slot: '0',
        sourceDir: src,
        commit: 'c0ffee',
        trusted: true,
        changedSince: async () => ['xen/main.c'],
        parallel: 1,
        makeJobs: 2,
        limits: LIMITS,
        logCapBytes: 1 << 20,
        logDir: join(dir, 'logs'),
      };
      const baseline = await runMatrix({ ...common, phase: 'baseline' });
      writeFileSync(join(src, 'xen/main.c'), 'int main(void) { return undeclared_thing; }\n');
      const [b] = await runMatrix({
        ...common,
        phase: 'series',
        startFrom: baseline,
        confirmFailures: true,
      });
      assert.equal(b!.mode?.rule, 'incremental');
      assert.equal(b!.status, 'fail');
      assert.equal(b!.confirmedClean, true);
      assert.equal(b!.botError, null);
      assert.match(readFileSync(b!.logPath!, 'utf8'), /undeclared_thing/);
    });

    // Isolation is the container runner's promise; the local runner makes none and says so.
    if (!isolated) {
      it('the local runner says it does not isolate (no network namespace, read-only mounts, memory limit or images)', () => {
        assert.equal(runner.isolated, false);
      });
      return;
    }
    describe('isolation', () => {
      it('a Makefile that tries to connect to the network fails', async () => {
        // By address, so it is the network that is missing, not only name resolution.
        const address = (await lookup('deb.debian.org')).address;
        const { outcome, log } = await target('netprobe', LIMITS, imageOf(toolchains[0]!), [
          `NETPROBE_HOST=${address}`,
        ]);
        assert.notEqual(outcome.exitCode, 0, log);
        assert.match(log, /Network is unreachable|Errno 101/);
        assert.doesNotMatch(log, /^NETWORK REACHABLE$/m);
      });
      it('the source tree is read-only to the build', async () => {
        const { outcome, log, src } = await target('writesrc');
        assert.notEqual(outcome.exitCode, 0);
        assert.match(log, /Read-only file system/);
        assert.ok(!existsSync(join(src, 'xen/written-by-the-build')));
      });
      it('a build past its memory limit is reported as out of memory', async () => {
        const { outcome, log } = await target('hog', { ...LIMITS, memoryMb: 128 });
        assert.equal(outcome.oomKilled, true, log);
        assert.notEqual(outcome.exitCode, 0);
      });
      it("a missing image is the bot's error, saying how to fix it", async () => {
        const { outcome } = await target('all', LIMITS, 'listci/no-such-toolchain');
        assert.equal(
          outcome.botError,
          'image listci/no-such-toolchain not found: run listci images build (scripts/build-images.sh)',
        );
        assert.equal(outcome.exitCode, null);
      });
    });
  });
}
