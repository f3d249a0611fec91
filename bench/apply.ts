// Applies 50 series in a row through the worktree pool, three jobs competing for the
// configured worktrees, and reports: worktree count (never above the configured size),
// disk use of mirror + worktrees before/after, and per-apply time.
//
//   npx tsx bench/apply.ts [series=50] [worktrees=2] [files=1000]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applySeries } from '../src/git/apply.ts';
import { chooseBase } from '../src/git/base.ts';
import { maintainMirror } from '../src/git/mirror.ts';
import { WorktreePool } from '../src/git/worktrees.ts';
import type { SeriesToCheck } from '../src/series/types.ts';
import { commitFile, contributorClone, makeUpstream, post, REPO_CFG, rm, sh } from '../test/git/helpers.ts';

const [nSeries = 50, poolSize = 2, nFiles = 1000] = process.argv.slice(2).map(Number);

function duKb(...paths: string[]): number {
  const out = execFileSync('du', ['-sk', '-c', ...paths], { encoding: 'utf8' });
  return Number(/^(\d+)\s+total$/m.exec(out)![1]);
}

const up = await makeUpstream('bench');
try {
  // A tree of Xen's order of size: nFiles C files of ~2 KB.
  for (let i = 0; i < nFiles; i++) {
    const dir = join(up.upstream, 'xen', `dir${i % 40}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `f${i}.c`),
      Array.from({ length: 80 }, (_, l) => `int f${i}_${l} = ${l};`).join('\n') + '\n',
    );
  }
  sh(up.upstream, 'add', '-A');
  sh(up.upstream, 'commit', '-q', '-m', 'a tree of Xen-like size');
  sh(up.mirror.path, 'fetch', '-q', 'origin');
  const staging = sh(up.mirror.path, 'rev-parse', 'staging').trim();

  // 50 series of 3 patches; every 10th has a patch 2/3 that does not apply.
  const clone = contributorClone(up, 'dev', staging);
  const all: SeriesToCheck[] = [];
  for (let s = 0; s < nSeries; s++) {
    sh(clone, 'checkout', '-q', '--detach', staging);
    for (let p = 0; p < 3; p++) {
      const i = (s * 7 + p) % nFiles;
      const f = `xen/dir${i % 40}/f${i}.c`;
      commitFile(clone, f, `int series_${s}_${p};\n`, `s${s}: patch ${p + 1}`);
    }
    const series = post(clone, 'HEAD~3..HEAD', { id: `s${s}`, base: staging });
    if (s % 10 === 9) {
      // make 2/3 a modification of content upstream never had
      const p2 = series.patches[1]!;
      p2.raw = Buffer.from(p2.raw.toString('utf8').replace(/^-int (f\d+)_5 = 5;$/m, '-int $1_5 = 555;'));
    }
    all.push(series);
  }

  const pool = new WorktreePool({ mirror: up.mirror.path, dir: up.worktrees, size: poolSize, pollMs: 20 });
  // Warm-up: create the worktrees and check out staging, so "before" is the steady state.
  const warm = await Promise.all(Array.from({ length: poolSize }, () => pool.acquire()));
  for (const w of warm) {
    await applySeries(w.path, staging, []); // steady state: worktrees hold a full tree
    w.release();
  }
  const before = { mirror: duKb(up.mirror.path), worktrees: duKb(up.worktrees) };

  const times: number[] = [];
  let maxWorktrees = 0;
  let ok = 0;
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < all.length) {
      const series = all[next++]!;
      const w = await pool.acquire();
      try {
        maxWorktrees = Math.max(maxWorktrees, pool.list().length);
        const t = performance.now();
        const { choice } = await chooseBase(series, { mirror: up.mirror, repo: REPO_CFG });
        const { result } = await applySeries(w.path, choice.commit, series.patches);
        times.push(performance.now() - t);
        if (result.ok) ok++;
        else failed++;
      } finally {
        w.release();
      }
    }
  };
  await Promise.all(Array.from({ length: poolSize + 1 }, worker));
  const wall = performance.now() - t0;
  const afterRuns = { mirror: duKb(up.mirror.path), worktrees: duKb(up.worktrees) };
  await maintainMirror(up.mirror, { expire: 'now' });
  const afterMaint = { mirror: duKb(up.mirror.path), worktrees: duKb(up.worktrees) };

  times.sort((a, b) => a - b);
  const q = (x: number): string =>
    times[Math.min(times.length - 1, Math.floor(x * times.length))]!.toFixed(0);
  console.log(`series: ${all.length} (3 patches each), ${ok} applied, ${failed} failed at 2/3 as planned`);
  console.log(`tree: ${nFiles} files; pool size ${poolSize}, ${poolSize + 1} jobs competing`);
  console.log(`worktrees: max ${maxWorktrees} seen during the run, ${pool.list().length} at the end`);
  console.log(`disk (KB)        mirror  worktrees`);
  console.log(`  before         ${before.mirror}  ${before.worktrees}`);
  console.log(`  after 50       ${afterRuns.mirror}  ${afterRuns.worktrees}`);
  console.log(`  after prune    ${afterMaint.mirror}  ${afterMaint.worktrees}`);
  console.log(`per apply (ms, base choice + am): min ${q(0)} median ${q(0.5)} p95 ${q(0.95)} max ${q(1)}`);
  console.log(`wall: ${(wall / 1000).toFixed(1)} s`);
} finally {
  rm(up.root);
}
