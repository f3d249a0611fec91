// Where the compiler cache is used: every clean build reads it (and a trusted one fills it); an
// incremental build, whose every compile has a changed input, uses it only where asked to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRunner } from '../../src/build/engine.ts';
import { runMatrix, type MatrixInput } from '../../src/build/matrix.ts';
import { parseConfig } from '../../src/config/load.ts';
import { matrixInputFor } from '../../src/pipeline/matrix-input.ts';
import { podmanReady } from '../helpers/podman.ts';
import { fixtureCopy, RECIPE, toolchain } from './suite.ts';

/** ccache's stored results (files named …R), by path. */
function results(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((p) => p.endsWith('R'))
      .sort();
  } catch {
    return [];
  }
}

test('a clean baseline fills the cache; an incremental one only when told to', async () => {
  const socket = podmanReady(['gcc-12']);
  const { root, src } = fixtureCopy('listci-ccache-use-');
  const workDir = join(root, 'work');
  const cache = join(workDir, 'ccache', 'gcc-12');
  let changed: string[] = [];
  const input: MatrixInput = {
    runner: new ContainerRunner({ socketPath: socket }),
    recipe: RECIPE,
    toolchains: [toolchain('gcc-12', 'gcc-12', null)],
    workDir,
    slot: '0',
    sourceDir: src,
    commit: 'a',
    trusted: true,
    phase: 'baseline',
    changedSince: async () => changed,
    parallel: 1,
    makeJobs: 2,
    limits: { memoryMb: 512, pids: 256, cpus: 1, timeoutMs: 60_000 },
    logCapBytes: 1 << 20,
    logDir: join(root, 'logs'),
    ccacheMb: 64,
    ccacheOnIncremental: { baseline: false, series: false },
  };
  try {
    const [a] = await runMatrix(input);
    assert.equal(a!.mode?.clean, true);
    const filled = results(cache);
    assert.ok(filled.length >= 2, `the clean baseline filled the cache: ${filled.length} results`);

    changed = ['xen/main.c'];
    appendFileSync(join(src, 'xen/main.c'), '\nint listci_b;\n');
    const [b] = await runMatrix({ ...input, commit: 'b', startFrom: [a!] });
    assert.equal(b!.mode?.clean, false, b!.mode?.reason);
    assert.deepEqual(results(cache), filled, 'an incremental baseline told not to leaves the cache alone');

    appendFileSync(join(src, 'xen/main.c'), '\nint listci_c;\n');
    const [c] = await runMatrix({
      ...input,
      commit: 'c',
      startFrom: [b!],
      ccacheOnIncremental: { baseline: true, series: false },
    });
    assert.equal(c!.mode?.clean, false, c!.mode?.reason);
    assert.equal(results(cache).length, filled.length + 1, "the recompiled main.c's result is added");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("with warm-ups, only a warm-up's incremental baseline fills the cache; without backdating, every build may hit", () => {
  const config = (build: object, repo: object) =>
    parseConfig({ build, repo }, { source: 'test', baseDir: tmpdir() });
  const tree = (warmUp: boolean) => ({
    runner: new ContainerRunner({ socketPath: '/nonexistent' }),
    toolchains: [],
    slot: '0',
    phase: 'baseline' as const,
    sourceDir: '/src',
    commit: 'a',
    trusted: true,
    logDir: '/logs',
    confirmFailures: false,
    gitTimeoutMs: 1000,
    warmUp,
  });
  const use = (build: object, repo: object, warmUp: boolean) =>
    matrixInputFor({ config: config(build, repo), ...tree(warmUp) }).ccacheOnIncremental;
  assert.deepEqual(
    use({}, {}, false),
    { baseline: false, series: false },
    "a check's own base waits for nothing",
  );
  assert.deepEqual(use({}, {}, true), { baseline: true, series: false }, 'a warm-up fills');
  assert.deepEqual(
    use({}, { warmUp: false }, false),
    { baseline: true, series: false },
    'no warm-ups: checks fill',
  );
  assert.deepEqual(
    use({ parallel: 2 }, {}, false),
    { baseline: true, series: true },
    'rewritten files recompile',
  );
});
