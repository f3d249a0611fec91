// Measures what listci's build stage costs on real Xen (scripts/get-xen.sh), per toolchain:
//   cold      the baseline from an empty build dir: defconfig, fragment, olddefconfig, make -j,
//             kept as the trusted snapshot
//   copy      what each series build pays first: a fresh copy of that snapshot (cp -a)
//   rebuild   wall time of a one-file patch's series build through listci: the copy, the
//             container step, the checks' hook, the copy's removal
//   plain     the same kind of one-file change, `make` run by hand in one long-lived container
//             of the same image with the same mounts, in a copy of the snapshot (timed inside)
// and listci's overhead on the incremental rebuild in %. Heavy: run alone, sequentially.
//
//   node --import tsx bench/build.ts [toolchain...]     (default: gcc-12 gcc-11 clang-14)
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRunner, ensureOwner } from '../src/build/engine.ts';
import { runMatrix } from '../src/build/matrix.ts';
import { imageFor, type ToolchainBuild } from '../src/build/toolchain-build.ts';
import { makeArgv, XEN_RECIPE, type RecipeConfig } from '../src/build/recipe.ts';
import { copyTree } from '../src/build/snapshots.ts';
import { benchToolchain, xenBenchSetup } from './xen-setup.ts';

const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['gcc-12', 'gcc-11', 'clang-14'];
const { socket, xen } = xenBenchSetup(names);
const RECIPE: RecipeConfig = XEN_RECIPE;

const runner = new ContainerRunner({ socketPath: socket });
const limits = { memoryMb: 4096, pids: 4096, cpus: 2, timeoutMs: 20 * 60_000 };
const root = mkdtempSync('/var/tmp/listci-bench-');
chmodSync(root, 0o755);
const PATCHED = 'xen/common/version.c';
let patchNo = 0;
/** A one-file patch: a real code change in one C file (a new global the linker keeps). */
function patch(src: string): void {
  patchNo++;
  appendFileSync(join(src, PATCHED), `\nconst int listci_bench_${patchNo} = ${patchNo};\n`);
}

const rows: string[] = [];
for (const name of names) {
  const tc = benchToolchain(name);
  const src = join(root, `src-${name}`);
  const workDir = join(root, `work-${name}`);
  execFileSync('git', ['-C', xen, 'worktree', 'add', '--detach', '-f', src, 'upstream'], { stdio: 'ignore' });
  const image = imageFor(tc);
  const common = {
    runner,
    recipe: RECIPE,
    toolchains: [tc],
    workDir,
    slot: 'bench',
    sourceDir: src,
    commit: 'bench-base',
    trusted: true,
    // Only the patched file differs from the snapshot's tree; the bench touches it itself.
    changedSince: async () => [PATCHED],
    parallel: 1,
    makeJobs: 2,
    limits,
    logCapBytes: 4 << 20,
    logDir: join(root, `logs-${name}`),
  };
  const step = async (label: string, b: ToolchainBuild): Promise<number> => {
    if (b.status !== 'pass')
      throw new Error(`${name} ${label}: ${b.status} ${b.botError ?? ''} (log ${b.logPath})`);
    console.error(`${name} ${label}: ${(b.durationMs / 1000).toFixed(1)} s (${b.mode?.reason ?? 'cached'})`);
    return b.durationMs;
  };
  const [base] = await runMatrix({ ...common, phase: 'baseline' });
  const cold = await step('cold', base!);
  // What every series build pays before make starts: a fresh copy of the trusted snapshot.
  const t0 = Date.now();
  await copyTree(base!.buildDir, join(root, `copy-${name}`));
  const copyMs = Date.now() - t0;
  console.error(`${name} snapshot copy: ${(copyMs / 1000).toFixed(2)} s`);
  patch(src);
  // Wall time of the series phase through listci: copy, container steps, checks, removal.
  const t1 = Date.now();
  const [series] = await runMatrix({ ...common, phase: 'series', startFrom: [base!] });
  await step('rebuild after one-file patch', series!);
  const rebuild = Date.now() - t1;
  const build = join(root, `copy-${name}`);

  // The comparison: the same kind of change, plain make in one container that stays up.
  ensureOwner(build, 1000, 1000);
  const ctr = execFileSync(
    'podman',
    [
      'run',
      '-d',
      '--rm',
      '--network=none',
      '--user=1000:1000',
      '-v',
      `${src}:/src:ro`,
      '-v',
      `${build}:/build`,
      '-w',
      '/build',
      image,
      'sleep',
      'infinity',
    ],
    { encoding: 'utf8' },
  ).trim();
  patch(src);
  const argv = [
    ...makeArgv({ runner, recipe: RECIPE, toolchain: tc, sourceDir: src, buildDir: build }),
    '-j2',
  ];
  // A fixed script; the make argv comes from this file's own constants.
  const out = execFileSync(
    'podman',
    [
      'exec',
      ctr,
      'sh',
      '-c',
      's=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))',
      'sh',
      ...argv,
    ],
    { encoding: 'utf8' },
  );
  execFileSync('podman', ['rm', '-f', ctr], { stdio: 'ignore' });
  const plain = Number(out.trim().split('\n').pop());
  console.error(`${name} plain make: ${(plain / 1000).toFixed(1)} s`);
  const overhead = ((rebuild - plain) / plain) * 100;
  rows.push(
    `${name.padEnd(9)} ${s(cold)} ${s(copyMs)} ${s(rebuild)} ${s(plain)} ${overhead.toFixed(0).padStart(8)}%`,
  );
  execFileSync('git', ['-C', xen, 'worktree', 'remove', '--force', src], { stdio: 'ignore' });
}
console.log(`Xen ${xen}, CONFIG_LIVEPATCH=y CONFIG_ENFORCE_UNIQUE_SYMBOLS=y, make -j2, seconds`);
console.log('toolchain     cold     copy  rebuild    plain  overhead');
for (const r of rows) console.log(r);
rmSync(root, { recursive: true, force: true });

function s(ms: number): string {
  return (ms / 1000).toFixed(1).padStart(8);
}
