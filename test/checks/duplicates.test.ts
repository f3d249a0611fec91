// A maintainer's questions about a build's symbols: which `file#name` keys are duplicated,
// where they come from, are they the series' fault — and would Xen's own check say the same?
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { join } from 'node:path';
import {
  checkBuildOutput,
  compareWithBaseline,
  findDuplicates,
  hasNewFailures,
  readElf,
} from '../../src/checks/index.ts';
import { buildTree, run, tempDir } from './fixture-tree.ts';

const XEN_SYMBOLS_C =
  process.env.LISTCI_XEN_SYMBOLS_C ?? '/var/cache/listci/xen-master.git/xen/tools/symbols.c';

/**
 * Xen's rule written again from xen/tools/symbols.c, over nm's text rather than our ELF
 * reader, so a mistake in either shows up as a disagreement.
 */
const up = (s: string) => s.toUpperCase();

function referenceDuplicates(nmSysv: string): Map<string, string[]> {
  let file: string | null = null;
  const byKey = new Map<string, Set<bigint>>();
  for (const line of nmSysv.split('\n')) {
    const m = /^([^ |]{1,499}) *\|([0-9a-f]+) *\| +(\S) +\| *([^ |]*) *\|/.exec(line);
    if (!m) continue;
    const [, name, value, cls, type] = m as unknown as [string, string, string, string, string];
    if (type.toUpperCase() === 'FILE') {
      file = name;
      continue;
    }
    const starts = ['_stext', '_etext', '_sinittext', '_einittext', '_sextratext', '_eextratext'];
    if (!starts.includes(name)) {
      const u = up(cls);
      if (u === 'A' && name !== '__gp') continue;
      if (u === 'U' || u === 'N' || name.startsWith('$')) continue;
    }
    const key = cls !== up(cls) && file ? `${file}#${name}` : name;
    const set = byKey.get(key) ?? new Set<bigint>();
    set.add(BigInt(`0x${value}`));
    byKey.set(key, set);
  }
  const out = new Map<string, string[]>();
  for (const [k, v] of byKey)
    if (v.size > 1)
      out.set(
        k,
        [...v].sort((a, b) => (a < b ? -1 : 1)).map((x) => x.toString(16)),
      );
  return out;
}

/** tools/symbols itself, built from Xen's source when this machine has it. */
function xenToolsSymbols(): string | null {
  if (!existsSync(XEN_SYMBOLS_C)) return null;
  const out = join(tempDir('tools-symbols'), 'symbols');
  run('gcc', ['-O2', '-o', out, XEN_SYMBOLS_C], '/');
  return out;
}

function xenSays(tool: string, image: string): Map<string, string[]> {
  let stderr = '';
  try {
    // The flags x86's Makefile uses on .xen-syms.1 with CONFIG_LIVEPATCH and ENFORCE_UNIQUE_SYMBOLS.
    execSync(
      `nm -pa --format=sysv '${image}' | '${tool}' --all-symbols --sysv --sort --error-dup >/dev/null`,
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
  } catch (e) {
    stderr = String((e as { stderr?: Buffer }).stderr ?? '');
  }
  const out = new Map<string, Set<string>>();
  for (const m of stderr.matchAll(/^Duplicate symbol '(.*)' \(([0-9a-f]+) != ([0-9a-f]+)\)$/gm)) {
    const s = out.get(m[1]!) ?? new Set<string>();
    s.add(m[2]!).add(m[3]!);
    out.set(m[1]!, s);
  }
  return new Map(
    [...out].map(([k, v]) => [k, [...v].sort((a, b) => (BigInt(`0x${a}`) < BigInt(`0x${b}`) ? -1 : 1))]),
  );
}

const tool = xenToolsSymbols();

for (const cc of ['gcc', 'clang'] as const) {
  test(`${cc}: a static compiled twice and an assembler local without .file are duplicates, keyed like Xen and traced to both objects`, async (t) => {
    const build = buildTree({ cc, series: true });
    t.after(() => rmSync(build, { recursive: true, force: true }));
    const out = await checkBuildOutput({ buildDir: build, image: 'xen-syms', logText: '' });

    assert.equal(out.imageChecked, 'xen-syms');
    assert.deepEqual(
      out.duplicates.map((d) => [d.key, d.addresses.length, d.objects]),
      [
        ['entry.o#restore_all', 2, ['arch/entry.o', 'arch32/entry.o']],
        ['static-helper-compiled-twice.c#helper', 2, ['common/helper-v1.o', 'common/helper-v2.o']],
      ],
    );
    // handler, its alias handler_alias and the second `handler` entry share one address.
    assert.ok(
      !out.duplicates.some((d) => d.key.includes('handler')),
      'an alias at the same address is not a duplicate',
    );
    assert.deepEqual(
      out.fileCollisions.map((f) => [f.file, f.objects]),
      [
        ['entry.o', ['arch/entry.o', 'arch32/entry.o']],
        ['static-helper-compiled-twice.c', ['common/helper-v1.o', 'common/helper-v2.o']],
      ],
    );
  });

  test(`${cc}: findings equal Xen's rule (reference over nm -pa --format=sysv${tool ? ', and tools/symbols itself' : ''})`, async (t) => {
    const build = buildTree({ cc, series: true });
    t.after(() => rmSync(build, { recursive: true, force: true }));
    const image = join(build, 'xen-syms');
    const ours = new Map(findDuplicates(await readElf(image)).map((d) => [d.key, d.addresses]));
    const nm = run('nm', ['-pa', '--format=sysv', image], build);
    assert.deepEqual(ours, referenceDuplicates(nm));
    if (tool) assert.deepEqual(ours, xenSays(tool, image));
    else if (process.env.CI) assert.fail(`${XEN_SYMBOLS_C} not found in CI (scripts/get-xen.sh)`);
    else t.diagnostic(`tools/symbols not compared: ${XEN_SYMBOLS_C} not found`);
  });
}

test('a duplicate the baseline already had is preexisting; one only the series adds is new and fails', async (t) => {
  const base = buildTree({ cc: 'gcc', series: false });
  const series = buildTree({ cc: 'gcc', series: true, stopAtIntermediate: true });
  t.after(() => [base, series].forEach((d) => rmSync(d, { recursive: true, force: true })));
  const baseOut = await checkBuildOutput({ buildDir: base, image: 'xen-syms', logText: '' });
  // Xen stopped after .xen-syms.1: the check falls back to the intermediate image.
  const seriesOut = await checkBuildOutput({
    buildDir: series,
    image: 'xen-syms',
    intermediateImage: '.xen-syms.1',
    logText: '',
  });
  assert.equal(seriesOut.imageChecked, '.xen-syms.1');

  const compared = compareWithBaseline(seriesOut, baseOut);
  assert.deepEqual(
    compared.duplicates.map((d) => [d.key, d.status]),
    [
      ['entry.o#restore_all', 'new'],
      ['static-helper-compiled-twice.c#helper', 'preexisting'],
    ],
  );
  assert.equal(hasNewFailures(compared), true);
  assert.equal(
    hasNewFailures(compareWithBaseline(baseOut, baseOut)),
    false,
    'the baseline against itself is clean',
  );
});

test('with neither the image nor the intermediate one, the check says so instead of reporting nothing', async (t) => {
  const empty = tempDir('empty');
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const out = await checkBuildOutput({
    buildDir: empty,
    image: 'xen-syms',
    intermediateImage: '.xen-syms.1',
    logText: '',
  });
  assert.equal(out.imageChecked, null);
  assert.match(
    out.problems[0] ?? '',
    /no image to check symbols in: neither .*xen-syms nor .*\.xen-syms\.1 was written by this build/,
  );
});
