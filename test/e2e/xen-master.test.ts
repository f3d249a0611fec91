// Today's Xen (scripts/get-xen.sh master) under x86 gcc-12 and clang-14 and arm64, the latter
// cross-built with Debian's gcc-aarch64-linux-gnu in Podman. Xen's own build runs its duplicate check on x86 only, so an
// arm64 live-patchable hypervisor can ship with duplicates nobody sees: listci reads xen-syms
// itself, with Xen's rule, and must find exactly what Xen's tools/symbols would.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerRunner } from '../../src/build/engine.ts';
import { copyTree, removeTree } from '../../src/build/snapshots.ts';
import { checkBuildOutput, readBuildElf } from '../../src/checks/index.ts';
import { skipUnlessCi } from '../helpers/prerequisite.ts';
import {
  SOCKET,
  XEN_MASTER_REPO,
  XEN_TOOLCHAINS,
  checkConfig,
  contributorSeries,
  listciCheck,
  missingPrerequisites,
  workDirFor,
} from './support.ts';

const ARM64 = {
  name: 'gcc-12-arm64',
  image: 'localhost/listci/gcc-12-arm64',
  cc: 'aarch64-linux-gnu-gcc',
  hostcc: 'gcc-12',
  makeArgs: ['XEN_TARGET_ARCH=arm64', 'CROSS_COMPILE=aarch64-linux-gnu-'],
};
const TOOLCHAINS = [...XEN_TOOLCHAINS, ARM64];
const missing = missingPrerequisites(
  TOOLCHAINS.map((t) => t.image),
  XEN_MASTER_REPO,
);

let scratch: string;
let work: { dir: string; keep: boolean };
let config: string;
let mbox: string;

/** Two arm64 assembler files named counter.S with the same local label: ld names both blocks counter.o. */
function counterS(entry: string): string {
  return `/* SPDX-License-Identifier: GPL-2.0-only */\n        .text\nprobe_counter:\n        ret\n        .globl ${entry}\n${entry}:\n        b       probe_counter\n`;
}

before(() => {
  if (missing) return;
  scratch = mkdtempSync(join(tmpdir(), 'listci-arm64-'));
  chmodSync(scratch, 0o755);
  work = workDirFor('listci-e2e-work-');
  ({ mbox } = contributorSeries(XEN_MASTER_REPO, scratch, 'xen/arm: add a cycle counter probe', (clone) => {
    for (const [dir, entry] of [
      ['xen/arch/arm', 'arm_counter_entry'],
      ['xen/arch/arm/arm64', 'arm64_counter_entry'],
    ] as const) {
      writeFileSync(join(clone, dir, 'counter.S'), counterS(entry));
      const mk = join(clone, dir, 'Makefile');
      writeFileSync(mk, `${readFileSync(mk, 'utf8')}obj-y += counter.o\n`);
    }
  }));
  config = checkConfig(scratch, work.dir, XEN_MASTER_REPO, TOOLCHAINS);
});

after(() => {
  if (missing) return;
  rmSync(scratch, { recursive: true, force: true });
  if (!work.keep) rmSync(work.dir, { recursive: true, force: true });
});

test(
  'a duplicate only arm64 has fails under arm64, naming symbol and objects; x86 is skipped by the rule',
  { skip: skipUnlessCi(missing), timeout: 30 * 60_000 },
  async () => {
    const { code, result } = await listciCheck(config, ['--mbox', mbox]);
    assert.equal(code, 1, result.summary);
    assert.equal(result.verdict, 'fail');
    const arm = result.builds.find((b) => b.phase === 'series' && b.toolchain === ARM64.name)!;
    assert.equal(arm.arch, 'arm64');
    assert.equal(arm.verdict, 'fail');
    assert.deepEqual(
      arm.duplicates.new.map((d) => [d.key, d.objects]),
      [['counter.o#probe_counter', ['arch/arm/arm64/counter.o', 'arch/arm/counter.o']]],
    );
    for (const t of XEN_TOOLCHAINS) {
      const b = result.builds.find((x) => x.phase === 'series' && x.toolchain === t.name)!;
      assert.equal(b.status, 'skipped', `${t.name} was not built`);
      assert.match(
        b.skipped ?? '',
        /^not built: the series touches only xen\/arch\/arm\/, nothing x86_64 builds from/,
      );
    }
    assert.ok(
      !result.builds.some((b) => b.phase === 'baseline' && b.arch === 'x86_64'),
      'no x86 baseline either',
    );
  },
);

test(
  "listci's arm64 findings equal Xen's own tools/symbols --error-dup on the same xen-syms, mapping symbols left out",
  { skip: skipUnlessCi(missing), timeout: 20 * 60_000 },
  async () => {
    // The base's arm64 baseline, kept as a snapshot by the test above (or built now).
    const snaps = join(work.dir, 'snapshots', ARM64.name);
    let snap = readdirSync(snaps, { withFileTypes: true }).find((e) => e.isDirectory())?.name;
    if (!snap) {
      await listciCheck(config, ['--mbox', mbox, '--toolchains', ARM64.name]);
      snap = readdirSync(snaps, { withFileTypes: true }).find((e) => e.isDirectory())!.name;
    }
    const copy = join(scratch, 'arm64-reference');
    await copyTree(join(snaps, snap), copy);
    try {
      const elf = await readBuildElf(copy, 'xen-syms');
      assert.equal(elf.machine, 183, 'an AArch64 image');
      assert.ok(
        elf.symtab.some((s) => s.name === '$x' || s.name.startsWith('$x.')),
        'the image has Arm mapping symbols',
      );
      const ours = await checkBuildOutput({ buildDir: copy, image: 'xen-syms', logText: '' });
      assert.ok(!ours.duplicates.some((d) => d.key.includes('$')), 'mapping symbols are not reported');

      // Xen's own check, as its x86 Makefile runs it, over the cross nm's view of the same file.
      const logPath = join(scratch, 'xen-symbols.log');
      writeFileSync(logPath, '');
      mkdirSync(join(scratch, 'empty-src'), { recursive: true });
      const r = await new ContainerRunner({ socketPath: SOCKET }).run({
        image: ARM64.image,
        argv: [
          'sh',
          '-c',
          'aarch64-linux-gnu-nm -pa --format=sysv xen-syms | ./tools/symbols --all-symbols --sort-by-name --sysv --sort --error-dup >/dev/null',
        ],
        workdir: '/build',
        mounts: [
          { hostPath: join(scratch, 'empty-src'), containerPath: '/src', readOnly: true },
          { hostPath: copy, containerPath: '/build', readOnly: false },
        ],
        env: { LC_ALL: 'C' },
        limits: { memoryMb: 1024, pids: 256, cpus: 1, timeoutMs: 120_000 },
        logPath,
        logCapBytes: 8 << 20,
      });
      assert.equal(r.botError, null);
      const xen = [...readFileSync(logPath, 'utf8').matchAll(/^Duplicate symbol '([^']+)'/gm)].map(
        (m) => m[1]!,
      );
      assert.equal(
        r.exitCode,
        xen.length > 0 ? 1 : 0,
        'tools/symbols exits 1 exactly when it found duplicates',
      );
      assert.deepEqual(
        ours.duplicates.map((d) => d.key).sort(),
        [...new Set(xen)].sort(),
        "listci's keys are Xen's keys",
      );
      console.log(
        `arm64 base ${snap.slice(0, 12)}: ${xen.length} pre-existing duplicate(s)${xen.length ? `: ${[...new Set(xen)].join(', ')}` : ''}`,
      );
    } finally {
      removeTree(copy);
    }
  },
);

test(
  "a change to common code is built under every toolchain on today's Xen, incrementally, and passes",
  { skip: skipUnlessCi(missing), timeout: 30 * 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'listci-master-common-'));
    chmodSync(dir, 0o755);
    try {
      const { mbox: common } = contributorSeries(
        XEN_MASTER_REPO,
        dir,
        'xen/version: export a build counter',
        (clone) => {
          const f = join(clone, 'xen/common/version.c');
          writeFileSync(f, `${readFileSync(f, 'utf8')}\nconst unsigned int xen_build_counter = 1;\n`);
        },
      );
      const { code, result } = await listciCheck(checkConfig(dir, work.dir, XEN_MASTER_REPO, TOOLCHAINS), [
        '--mbox',
        common,
      ]);
      assert.equal(code, 0, result.summary);
      assert.equal(result.verdict, 'pass');
      for (const t of TOOLCHAINS) {
        const base = result.builds.find((b) => b.phase === 'baseline' && b.toolchain === t.name)!;
        const series = result.builds.find((b) => b.phase === 'series' && b.toolchain === t.name)!;
        assert.equal(series.verdict, 'pass', t.name);
        assert.equal(series.mode?.rule, 'incremental', `${t.name}: on the base's snapshot`);
        console.log(
          `${t.name} (${series.arch}) on today's Xen: baseline ${base.cached ? 'cached' : `${(base.durationMs / 1000).toFixed(1)} s cold`}, series ${(series.durationMs / 1000).toFixed(1)} s incremental, ${base.duplicates.preexisting.length} pre-existing duplicate(s)`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
