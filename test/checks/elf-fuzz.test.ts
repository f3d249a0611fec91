// Build output comes from untrusted patches: a garbled or truncated object must give one
// clear ElfError, never a crash, a hang or a giant allocation. Fixed seed, so a failure
// reproduces; LISTCI_FUZZ_CASES=200000 LISTCI_FUZZ_SEED=7 for a longer run.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfError, parseElf } from '../../src/checks/elf.ts';
import { FIXTURES, run, tempDir } from './fixture-tree.ts';
import { rng } from '../helpers/rng.ts';

const CASES = Number(process.env.LISTCI_FUZZ_CASES ?? 4000);
const SEED = Number(process.env.LISTCI_FUZZ_SEED ?? 20240611);
const MAX_CASE_MS = 250;

const work = tempDir('fuzz');
after(() => rmSync(work, { recursive: true, force: true }));

function corpus(): { name: string; bytes: Buffer }[] {
  const gccObj = join(work, 'alias.o');
  run('gcc', ['-O2', '-c', 'alias-of-static.c', '-o', gccObj], FIXTURES);
  const s32 = join(work, 'i386.s');
  writeFileSync(s32, '.file "i386.s"\n.text\n.globl start32\nstart32: ret\nlocal32: .long 5\n');
  run('as', ['--32', s32, '-o', join(work, 'i386.o')], work);
  writeFileSync(join(work, 'blob.bin'), Buffer.alloc(64, 1));
  run('objcopy', ['-I', 'binary', '-O', 'elf64-big', 'blob.bin', 'blob-be.o'], work);
  return [gccObj, join(work, 'i386.o'), join(work, 'blob-be.o'), '/usr/bin/true'].map((p) => ({
    name: p,
    bytes: readFileSync(p),
  }));
}

type Mutation = (b: Buffer, r: () => number) => Buffer;
const pick = (r: () => number, n: number) => Math.floor(r() * n);
const extremes = [0, 1, 0x7f, 0xff, 0xffff, 0xfff1, 0xffff_ffff, 0x8000_0000];

const mutations: [string, Mutation][] = [
  ['truncate', (b, r) => b.subarray(0, pick(r, b.length))],
  [
    'flip bytes',
    (b, r) => {
      const c = Buffer.from(b);
      for (let i = 0, n = 1 + pick(r, 8); i < n; i++) c[pick(r, c.length)] = pick(r, 256);
      return c;
    },
  ],
  [
    'header field',
    (b, r) => {
      // e_shoff .. e_shstrndx live in the first 64 bytes; hit them with edge values.
      const c = Buffer.from(b);
      const at = 16 + pick(r, Math.min(48, c.length - 20));
      c.writeUInt32LE(extremes[pick(r, extremes.length)]!, at);
      return c;
    },
  ],
  [
    'section header field',
    (b, r) => {
      // Only valid on the corpus' little-endian ELF64 files; elsewhere it is just noise.
      const c = Buffer.from(b);
      if (c[4] !== 2 || c[5] !== 1 || c.length < 64) return c;
      const shoff = Number(c.readBigUInt64LE(40));
      const shnum = c.readUInt16LE(60);
      if (shoff === 0 || shnum === 0 || shoff + shnum * 64 > c.length) return c;
      const at = shoff + pick(r, shnum) * 64 + 4 * pick(r, 16);
      c.writeUInt32LE(extremes[pick(r, extremes.length)]!, at);
      return c;
    },
  ],
];

test(`${CASES} mutated and truncated ELF files give either symbols or one ElfError (seed ${SEED})`, () => {
  const files = corpus();
  const r = rng(SEED);
  const outcomes = { parsed: 0, elfError: 0 };
  let slowest = 0;
  for (let i = 0; i < CASES; i++) {
    const file = files[i % files.length]!;
    const [what, mutate] = mutations[pick(r, mutations.length)]!;
    const input = mutate(file.bytes, r);
    const started = performance.now();
    try {
      parseElf(input, `case ${i}`);
      outcomes.parsed++;
    } catch (e) {
      if (!(e instanceof ElfError)) {
        const path = join(work, `case-${i}.bin`);
        writeFileSync(path, input);
        assert.fail(`case ${i} (${what} of ${file.name}) threw ${String(e)}; input kept at ${path}`);
      }
      assert.match(e.message, /^case \d+: /);
      outcomes.elfError++;
    }
    const ms = performance.now() - started;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < MAX_CASE_MS, `case ${i} (${what} of ${file.name}) took ${ms.toFixed(0)} ms`);
  }
  // Both outcomes must occur, or the mutations are not reaching the parser.
  assert.ok(outcomes.parsed > 0 && outcomes.elfError > 0, JSON.stringify(outcomes));
});
