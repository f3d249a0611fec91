// What the compiler cache (build.ccacheMb) buys on real Xen, per toolchain, from empty build dirs:
//   off        a cold baseline with no cache: today's cost of every clean build
//   fill       a cold baseline that writes an empty cache (trusted: the only kind that may)
//   warm       the same cold baseline again, the cache full: a new snapshot after eviction
//   series     a series that changes the build rules (a comment in xen/Rules.mk) and so builds
//              from an empty dir, reading the cache read-only as every untrusted build does
//   churn      a baseline after a header only a few files include changed (incremental from
//              the snapshot: ccache only helps where make recompiles an unchanged input)
// with ccache's own statistics after each trusted build. Heavy: run alone.
//
//   node --import tsx bench/ccache.ts [toolchain...]     (default: gcc-12 clang-14)
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRunner } from '../src/build/engine.ts';
import { runMatrix, type MatrixInput } from '../src/build/matrix.ts';
import { type ToolchainBuild } from '../src/build/toolchain-build.ts';
import { XEN_RECIPE } from '../src/build/recipe.ts';
import { benchToolchain, xenBenchSetup } from './xen-setup.ts';

const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['gcc-12', 'clang-14'];
const { socket, xen } = xenBenchSetup(names);

const runner = new ContainerRunner({ socketPath: socket });
const limits = { memoryMb: 4096, pids: 4096, cpus: 2, timeoutMs: 30 * 60_000 };
const root = mkdtempSync('/var/tmp/listci-bench-ccache-');
chmodSync(root, 0o755);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
const CACHE_MB = 2048;
// A header few files include: the churn case's change (grep -rl 'xen/rangeset.h' xen/ → a dozen).
const HEADER = 'xen/include/xen/rangeset.h';

/** ccache's counters for a cache dir, read with the host's ccache (the bench's only host use). */
function stats(dir: string): string {
  try {
    const out = execFileSync('ccache', ['-d', dir, '--print-stats'], { encoding: 'utf8' });
    const get = (k: string) => Number(new RegExp(`^${k}\\t(\\d+)$`, 'm').exec(out)?.[1] ?? 0);
    const hit = get('direct_cache_hit') + get('preprocessed_cache_hit');
    const miss = get('cache_miss');
    const size = get('cache_size_kibibyte');
    return `hits ${hit}, misses ${miss}, ${(size / 1024).toFixed(0)} MB`;
  } catch (e) {
    return `no stats (${(e as Error).message.split('\n')[0]})`;
  }
}
function zero(dir: string): void {
  execFileSync('ccache', ['-d', dir, '--zero-stats'], { stdio: 'ignore' });
  // The host's ccache rewrote the counters as root: give them back to the builds' uid.
  execFileSync('chown', ['-R', '1000:1000', dir]);
}

const rows: string[] = [];
for (const name of names) {
  const tc = benchToolchain(name);
  const src = join(root, `src-${name}`);
  execFileSync('git', ['-C', xen, 'worktree', 'add', '--detach', '-f', src, 'upstream'], { stdio: 'ignore' });
  const ident = ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.org'];
  const commitAll = (msg: string): string => {
    execFileSync('git', ['-C', src, ...ident, 'commit', '-q', '-am', msg]);
    return execFileSync('git', ['-C', src, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  };
  const base = execFileSync('git', ['-C', src, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const run = async (
    label: string,
    workDir: string,
    over: Partial<MatrixInput>,
  ): Promise<{ b: ToolchainBuild; ms: number }> => {
    const t0 = Date.now();
    const [b] = await runMatrix({
      runner,
      recipe: XEN_RECIPE,
      toolchains: [tc],
      workDir,
      slot: 'bench',
      phase: 'baseline',
      sourceDir: src,
      commit: base,
      trusted: true,
      changedSince: async (from) =>
        execFileSync('git', ['-C', src, 'diff', '--name-only', from, 'HEAD'], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean),
      parallel: 1,
      makeJobs: 2,
      limits,
      logCapBytes: 4 << 20,
      logDir: join(root, `logs-${name}`),
      ccacheMb: CACHE_MB,
      ...over,
    });
    if (!b || b.status !== 'pass') throw new Error(`${name} ${label}: ${b?.status} ${b?.botError ?? ''}`);
    const ms = Date.now() - t0;
    console.error(
      `${name} ${label}: ${(ms / 1000).toFixed(1)} s (${b.mode?.reason ?? 'cached'}), load ${loadavg()}`,
    );
    return { b, ms };
  };
  const cache = (w: string) => join(w, 'ccache', name);

  const off = await run('off', join(root, `off-${name}`), { ccacheMb: 0 });
  const w = join(root, `work-${name}`);
  const fill = await run('fill', w, {});
  const fillStats = stats(cache(w));
  // A new snapshot of the same tree from an empty dir: evict the first one.
  rmSync(join(w, 'snapshots'), { recursive: true, force: true });
  zero(cache(w));
  const warm = await run('warm', w, {});
  const warmStats = stats(cache(w));

  // The series: a build-rule change, so a clean build, read-only cache.
  appendFileSync(join(src, 'xen/Rules.mk'), '\n# listci ccache bench\n');
  const seriesCommit = commitAll('bench: a comment in Rules.mk');
  zero(cache(w));
  const series = await run('series (clean, read-only cache)', w, {
    phase: 'series',
    commit: seriesCommit,
    trusted: false,
    startFrom: [warm.b],
  });
  const seriesStats = stats(cache(w));

  // Staging moved: a header change, the next baseline incremental from the snapshot.
  execFileSync('git', ['-C', src, 'checkout', '-q', '--detach', base]);
  appendFileSync(join(src, HEADER), '\n/* listci ccache bench */\n');
  const churnCommit = commitAll('bench: a comment in rangeset.h');
  zero(cache(w));
  const churn = await run('churn (baseline, incremental)', w, { commit: churnCommit });
  const churnStats = stats(cache(w));

  rows.push(
    `${name.padEnd(9)} ${s(off.ms)} ${s(fill.ms)} ${s(warm.ms)} ${s(series.ms)} ${s(churn.ms)}`,
    `          fill: ${fillStats}; warm: ${warmStats}; series: ${seriesStats}; churn: ${churnStats}`,
  );
  execFileSync('git', ['-C', xen, 'worktree', 'remove', '--force', src], { stdio: 'ignore' });
}
console.log(`Xen ${xen}, CONFIG_LIVEPATCH=y, make -j2, wall seconds per build through listci`);
console.log('toolchain      off     fill     warm   series    churn');
for (const r of rows) console.log(r);
console.log(`load at end: ${loadavg()}`);
rmSync(root, { recursive: true, force: true });

function s(ms: number): string {
  return (ms / 1000).toFixed(1).padStart(8);
}
