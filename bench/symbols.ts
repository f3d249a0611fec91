// How long listci's duplicate check takes next to Xen's own pipeline on the same image, and
// whether they find the same duplicates.
//
//   npx tsx bench/symbols.ts <xen-build-dir | xen-syms | any ELF> [path to tools/symbols]
//
// A build dir is searched for xen-syms, then .xen-syms.1, then the biggest ELF in it. Without
// a tools/symbols path, <build-dir>/tools/symbols is used, else one is compiled from
// $LISTCI_XEN_SYMBOLS_C (default: the Xen mirror in /var/cache/listci).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readElf } from '../src/checks/elf.ts';
import { findDuplicates } from '../src/checks/duplicates.ts';

// x86's Makefile on .xen-syms.1 with CONFIG_LIVEPATCH, FAST_SYMBOL_LOOKUP and ENFORCE_UNIQUE_SYMBOLS.
const XEN_FLAGS = ['--all-symbols', '--sort-by-name', '--sysv', '--sort', '--error-dup'];
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function isElf(path: string): boolean {
  try {
    return (
      statSync(path).isFile() && execFileSync('head', ['-c4', path]).equals(Buffer.from('\x7fELF', 'latin1'))
    );
  } catch {
    return false;
  }
}

function biggestElf(dir: string): string | null {
  let best: { path: string; size: number } | null = null;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (!best || statSync(p).size > best.size) && isElf(p))
        best = { path: p, size: statSync(p).size };
    }
  };
  walk(dir);
  return (best as { path: string } | null)?.path ?? null;
}

function chooseImage(arg: string): string {
  if (!statSync(arg).isDirectory()) return arg;
  for (const name of ['xen-syms', '.xen-syms.1', 'xen/xen-syms', 'xen/.xen-syms.1']) {
    if (existsSync(join(arg, name))) return join(arg, name);
  }
  const big = biggestElf(arg);
  if (!big) throw new Error(`no ELF file under ${arg}`);
  return big;
}

function chooseTool(arg: string, given: string | undefined): string {
  if (given) return given;
  if (statSync(arg).isDirectory()) {
    for (const p of [join(arg, 'tools/symbols'), join(arg, 'xen/tools/symbols')]) if (existsSync(p)) return p;
  }
  const src = process.env.LISTCI_XEN_SYMBOLS_C ?? '/var/cache/listci/xen-master.git/xen/tools/symbols.c';
  if (!existsSync(src)) throw new Error(`no tools/symbols given and no source at ${src}`);
  const out = join(mkdtempSync(join(tmpdir(), 'listci-symbols-bench-')), 'symbols');
  execFileSync('gcc', ['-O2', '-o', out, src]);
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function ours(image: string): Promise<{ ms: number; dups: Map<string, string[]> }> {
  const times: number[] = [];
  let dups = new Map<string, string[]>();
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const found = findDuplicates(await readElf(image));
    times.push(performance.now() - t0);
    dups = new Map(found.map((d) => [d.key, d.addresses]));
  }
  return { ms: median(times), dups };
}

function xens(image: string, tool: string): { ms: number; dups: Map<string, string[]>; note: string } {
  const times: number[] = [];
  let stderr = '';
  const cmd = `nm -pa --format=sysv "$1" | "$2" ${XEN_FLAGS.join(' ')} >/dev/null`;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync('sh', ['-c', cmd, 'sh', image, tool], { encoding: 'utf8', maxBuffer: 1 << 28 });
    times.push(performance.now() - t0);
    stderr = r.stderr;
  }
  const sets = new Map<string, Set<bigint>>();
  for (const m of stderr.matchAll(/^Duplicate symbol '(.*)' \(([0-9a-f]+) != ([0-9a-f]+)\)$/gm)) {
    const s = sets.get(m[1]!) ?? new Set<bigint>();
    s.add(BigInt(`0x${m[2]}`)).add(BigInt(`0x${m[3]}`));
    sets.set(m[1]!, s);
  }
  const dups = new Map(
    [...sets].map(([k, v]) => [
      k,
      [...v].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((x) => x.toString(16)),
    ]),
  );
  const note = stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('Duplicate symbol'))
    .slice(0, 3)
    .join('; ');
  return { ms: median(times), dups, note };
}

async function main(): Promise<void> {
  const [arg, toolArg] = process.argv.slice(2);
  if (!arg) {
    console.error(
      'usage: npx tsx bench/symbols.ts <xen-build-dir | xen-syms | any ELF> [path to tools/symbols]',
    );
    process.exit(2);
  }
  const image = chooseImage(arg);
  const tool = chooseTool(arg, toolArg);
  const elf = await readElf(image);
  console.log(`image: ${image} (${statSync(image).size} bytes, ${elf.symtab.length} symbols in .symtab)`);
  console.log(`tools/symbols: ${tool} ${XEN_FLAGS.join(' ')}`);
  const a = await ours(image);
  const b = xens(image, tool);
  console.log(
    `listci check:              ${a.ms.toFixed(1)} ms (median of ${RUNS})  ${a.dups.size} duplicate keys`,
  );
  console.log(
    `nm | tools/symbols:        ${b.ms.toFixed(1)} ms (median of ${RUNS})  ${b.dups.size} duplicate keys`,
  );
  if (b.note) console.log(`tools/symbols also said: ${b.note}`);
  const same = JSON.stringify([...a.dups].sort()) === JSON.stringify([...b.dups].sort());
  console.log(`findings agree: ${same ? 'yes' : 'NO'}`);
  if (!same) {
    for (const [k, v] of a.dups)
      if (JSON.stringify(b.dups.get(k)) !== JSON.stringify(v))
        console.log(`  listci only/different: ${k} ${v.join(' ')}`);
    for (const [k, v] of b.dups) if (!a.dups.has(k)) console.log(`  tools/symbols only: ${k} ${v.join(' ')}`);
  }
  process.exit(same ? 0 : 1);
}

await main();
