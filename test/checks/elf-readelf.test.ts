// The ELF reader must see exactly what binutils sees: readelf for the raw symbol tables,
// nm for the class letters Xen's tools/symbols decides on. Checked on this machine's own
// binaries and libraries plus objects compiled here, ELF32 and big-endian included.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ElfSymbol, readElf } from '../../src/checks/elf.ts';
import { nmClass, nmName, nmValue } from '../../src/checks/nm-class.ts';
import { FIXTURES, run, tempDir } from './fixture-tree.ts';

const TYPES: Record<string, number> = {
  NOTYPE: 0,
  OBJECT: 1,
  FUNC: 2,
  SECTION: 3,
  FILE: 4,
  COMMON: 5,
  TLS: 6,
  IFUNC: 10,
};
const BINDS: Record<string, number> = { LOCAL: 0, GLOBAL: 1, WEAK: 2, UNIQUE: 10 };
const VIS: Record<string, number> = { DEFAULT: 0, INTERNAL: 1, HIDDEN: 2, PROTECTED: 3 };
const NDX: Record<string, number> = { UND: 0, ABS: 0xfff1, COM: 0xfff2 };

interface ReadelfRow {
  table: string;
  value: bigint;
  size: bigint;
  type: number;
  bind: number;
  vis: number;
  ndx: number;
  name: string;
}

function readelfSymbols(path: string): ReadelfRow[] {
  const text = execFileSync('readelf', ['-sW', path], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const rows: ReadelfRow[] = [];
  let table = '';
  for (const line of text.split('\n')) {
    const head = /^Symbol table '([^']+)'/.exec(line);
    if (head) table = head[1]!;
    const m = /^\s*\d+: ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+) (\S+)\s+(\S+)\s+(\S+)\s+(\S+) ?(.*)$/.exec(line);
    if (!m) continue;
    const t = TYPES[m[3]!];
    const b = BINDS[m[4]!];
    const v = VIS[m[5]!];
    if (t === undefined || b === undefined || v === undefined)
      throw new Error(`unexpected readelf row in ${path}: ${line}`);
    rows.push({
      table,
      value: BigInt(`0x${m[1]}`),
      size: BigInt(m[2]!),
      type: t,
      bind: b,
      vis: v,
      ndx: NDX[m[6]!] ?? Number(m[6]),
      name: m[7]!,
    });
  }
  return rows;
}

function isElf(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(4);
    readSync(fd, buf, 0, 4, 0);
    closeSync(fd);
    return buf.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } catch {
    return false;
  }
}

function firstElves(dir: string, count: number, filter: (name: string) => boolean = () => true): string[] {
  const names = readdirSync(dir).filter(filter).sort();
  const out: string[] = [];
  for (const n of names) {
    if (out.length >= count) break;
    const p = join(dir, n);
    if (isElf(p) && statSync(p).size < 20_000_000) out.push(p);
  }
  return out;
}

/** Separate debug files keep the full .symtab that the stripped binaries lost. */
function debugFiles(count: number): string[] {
  const root = '/usr/lib/debug/.build-id';
  let dirs: string[];
  try {
    dirs = readdirSync(root).sort();
  } catch {
    return [];
  }
  return dirs.flatMap((d) => firstElves(join(root, d), 1, (n) => n.endsWith('.debug'))).slice(0, count);
}

/** Objects made here: gcc, clang, ELF32 from `as --32`, and big-endian ELF32/ELF64. */
function compiledHere(dir: string): string[] {
  const out: string[] = [];
  for (const cc of ['gcc', 'clang']) {
    const o = join(dir, `alias-${cc}.o`);
    run(cc, ['-O2', '-g', '-c', 'alias-of-static.c', '-o', o], FIXTURES);
    out.push(o);
  }
  const tls = join(dir, 'tls-common-ifunc.c');
  writeFileSync(
    tls,
    '__thread int tls_counter;\nint common_thing;\nstatic int impl(void) { return 1; }\n' +
      'static void *resolve(void) { return (void *)impl; }\nint chosen(void) __attribute__((ifunc("resolve")));\n' +
      'int __attribute__((weak)) weak_one(void) { return 2; }\nextern int missing(void);\nint use(void) { return missing(); }\n',
  );
  run('gcc', ['-fcommon', '-c', tls, '-o', join(dir, 'tls-common-ifunc.o')], dir);
  out.push(join(dir, 'tls-common-ifunc.o'));
  const s32 = join(dir, 'i386.s');
  writeFileSync(
    s32,
    '.file "i386.s"\n.text\n.globl start32\nstart32: ret\nlocal32: .long 5\n.data\nd32: .long 1\n.comm c32,8,4\n',
  );
  run('as', ['--32', s32, '-o', join(dir, 'i386.o')], dir);
  run('ld', ['-m', 'elf_i386', '-e', 'start32', '-o', join(dir, 'i386-linked'), join(dir, 'i386.o')], dir);
  out.push(join(dir, 'i386.o'), join(dir, 'i386-linked'));
  // objcopy cannot flip an x86 object's byte order, but it can wrap data in any target.
  const blob = join(dir, 'blob.bin');
  writeFileSync(blob, Buffer.alloc(100, 7));
  for (const target of ['elf32-big', 'elf64-big']) {
    const o = join(dir, `blob-${target}.o`);
    run(
      'objcopy',
      ['-I', 'binary', '-O', target, '--add-symbol', 'be_local=.data:0x10,local,object', blob, o],
      dir,
    );
    out.push(o);
  }
  return out;
}

const work = tempDir('readelf');
after(() => rmSync(work, { recursive: true, force: true }));
const files = [
  ...compiledHere(work),
  ...firstElves('/usr/bin', 40),
  ...firstElves('/usr/lib/x86_64-linux-gnu', 25, (n) => n.includes('.so')),
  ...firstElves('/usr/lib/gcc/x86_64-linux-gnu/12', 5, (n) => n.endsWith('.o')),
  ...debugFiles(10),
];

test(`symbols agree with readelf -sW on ${files.length} ELF files (ELF32, big endian, objects, executables, libraries)`, async (t) => {
  assert.ok(files.length >= 50, `only ${files.length} ELF files found`);
  const seen = { bits32: 0, big: 0, symbols: 0 };
  for (const path of files) {
    const elf = await readElf(path);
    if (elf.bits === 32) seen.bits32++;
    if (elf.endian === 'big') seen.big++;
    const expected = readelfSymbols(path);
    const ours: [string, ElfSymbol][] = [
      ...elf.dynsym.map((s): [string, ElfSymbol] => ['.dynsym', s]),
      ...elf.symtab.map((s): [string, ElfSymbol] => ['.symtab', s]),
    ];
    assert.equal(ours.length, expected.length, `${path}: symbol count`);
    ours.forEach(([table, s], i) => {
      const r = expected[i]!;
      const where = `${path} ${table}[${s.index}] ${s.name}`;
      assert.equal(table, r.table, where);
      assert.deepEqual(
        [s.value, s.size, s.type, s.bind, s.visibility, s.shndx],
        [r.value, r.size, r.type, r.bind, r.vis, r.ndx],
        where,
      );
      // readelf adds @VERSION to dynamic names and shows section names for section symbols.
      const name = s.name === '' && r.name !== '' && s.type === 3 ? s.section : s.name;
      assert.ok(r.name === name || r.name.startsWith(`${name}@`), `${where}: readelf says ${r.name}`);
    });
    seen.symbols += ours.length;
  }
  assert.ok(seen.bits32 >= 2 && seen.big >= 2, `ELF32: ${seen.bits32}, big endian: ${seen.big}`);
  t.diagnostic(`${files.length} files, ${seen.symbols} symbols`);
});

test('the nm class letter, name and value agree with nm -pa --format=sysv on every .symtab symbol', async () => {
  let compared = 0;
  for (const path of files) {
    const elf = await readElf(path);
    if (elf.symtab.length === 0) continue;
    const text = execFileSync('nm', ['-pa', '--format=sysv', path], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const lines = text.split('\n').filter((l) => /^[^|]*\|[0-9a-f ]*\| +\S +\|/.test(l));
    const syms = elf.symtab.slice(1);
    assert.equal(lines.length, syms.length, `${path}: nm symbol count`);
    syms.forEach((s, i) => {
      const [name, value, cls] = lines[i]!.split('|').map((x) => x.trim()) as [string, string, string];
      const mine = [nmName(s), nmClass(elf, s)];
      assert.deepEqual(mine, [name, cls], `${path}: symbol ${s.index}`);
      if (value !== '') assert.equal(nmValue(elf, s), BigInt(`0x${value}`), `${path}: value of ${name}`);
      compared++;
    });
  }
  assert.ok(compared > 400, `only ${compared} symbols compared`);
});
