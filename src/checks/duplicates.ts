// Xen's duplicate-symbol rule, as xen/tools/symbols.c applies it to `nm -pa --format=sysv`
// output of .xen-syms.1 (x86, CONFIG_LIVEPATCH=y, --all-symbols --sysv --sort --error-dup):
//
//   * symbols are read in symbol-table order; an STT_FILE symbol names the file for the locals
//     that follow it, until the next STT_FILE with a name (an empty name, which ld emits
//     before its own locals, fails tools/symbols' scanf and leaves the previous file in place);
//   * a symbol whose nm class letter is lowercase (local) and has a file gets the key
//     `file#name`, everything else is keyed by its bare name;
//   * skipped: absolute symbols (nm `a`/`A`) except `__gp`, undefined ones (`U`, `w`, `v`:
//     nm prints no value for them), GNU unique (`u`), debugging (`N`/`n`), ARM mapping
//     symbols ($a/$t/$d), and names starting with `$`;
//   * a key is a duplicate when it appears at two different values; the same key at the same
//     value is an alias and is fine.
//
// nm's sysv lines are parsed by scanf("%499[^ |] |..."), so names with a space or '|', or
// longer than 499 bytes, never reach the check; those are skipped here too.
import type { ElfFile } from './elf.ts';
import { STT } from './elf.ts';
import { nmClass, nmName } from './nm-class.ts';

export interface XenSymbol {
  key: string;
  name: string;
  file: string | null; // the STT_FILE block it sits in, as tools/symbols sees it
  value: bigint;
  nmClass: string;
  index: number; // position in .symtab
}

export interface Duplicate {
  key: string;
  addresses: string[]; // distinct values, lowercase hex without 0x, ascending
}

export interface FileBlockCollision {
  file: string;
  blocks: number; // how many STT_FILE symbols carry this name
}

const MAX_NAME = 499;

function unreadableByXen(name: string): boolean {
  if (name.length === 0 || name.includes(' ') || name.includes('|')) return true;
  // A UTF-16 unit is at most 3 UTF-8 bytes, so only long names need measuring.
  return name.length > MAX_NAME / 3 && Buffer.byteLength(name) > MAX_NAME;
}

function isArmMapping(name: string): boolean {
  return name[0] === '$' && 'atd'.includes(name[1] ?? '\0') && (name.length === 2 || name[2] === '.');
}

/** Why tools/symbols would drop this symbol, or null when it keeps it. */
function skipReason(name: string, cls: string): string | null {
  const upper = cls.toUpperCase();
  if (['_stext', '_etext', '_sinittext', '_einittext', '_sextratext', '_eextratext'].includes(name))
    return null;
  if (upper === 'A') return name === '__gp' ? null : 'absolute';
  if (upper === 'U' || upper === 'N' || cls === 'w' || cls === 'v') return 'undefined or debugging';
  if (isArmMapping(name) || name.startsWith('$')) return 'mapping symbol';
  return null;
}

/** Every symbol of .symtab that takes part in Xen's check, with its key, in table order. */
export function xenSymbols(elf: ElfFile): XenSymbol[] {
  const out: XenSymbol[] = [];
  let file: string | null = null;
  for (const sym of elf.symtab) {
    if (sym.index === 0) continue; // nm never shows the null symbol
    const name = nmName(sym);
    if (unreadableByXen(name)) continue;
    if (sym.type === STT.FILE) {
      file = name;
      continue;
    }
    const cls = nmClass(elf, sym);
    if (skipReason(name, cls) !== null) continue;
    const local = cls !== cls.toUpperCase();
    out.push({
      key: local && file !== null ? `${file}#${name}` : name,
      name,
      file: local ? file : null,
      value: cls === 'C' ? sym.size : sym.value, // nm shows a common's size as its value
      nmClass: cls,
      index: sym.index,
    });
  }
  return out;
}

/** strcmp order, which is what tools/symbols sorts by (UTF-16 order differs for non-ASCII). */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Keys defined at more than one address, sorted by key like tools/symbols prints them. */
export function findDuplicates(elf: ElfFile): Duplicate[] {
  return duplicatesOf(xenSymbols(elf));
}

export function duplicatesOf(symbols: Pick<XenSymbol, 'key' | 'value'>[]): Duplicate[] {
  // Most keys appear once: keep the first value bare and make a set only for a second one.
  const byKey = new Map<string, bigint | Set<bigint>>();
  for (const s of symbols) {
    const seen = byKey.get(s.key);
    if (seen === undefined) byKey.set(s.key, s.value);
    else if (typeof seen === 'bigint') {
      if (seen !== s.value) byKey.set(s.key, new Set([seen, s.value]));
    } else seen.add(s.value);
  }
  const dups: Duplicate[] = [];
  for (const [key, values] of byKey) {
    if (typeof values === 'bigint') continue;
    const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    dups.push({ key, addresses: sorted.map((v) => v.toString(16)) });
  }
  return dups.sort((a, b) => byteCompare(a.key, b.key));
}

/**
 * STT_FILE names that open more than one block. Not a build failure, but live-patch tools
 * (kpatch's lookup, livepatch-build-tools) find a local by locating its file block first, and
 * two blocks with the same name make that lookup ambiguous.
 */
export function findFileCollisions(elf: ElfFile): FileBlockCollision[] {
  const counts = new Map<string, number>();
  for (const sym of elf.symtab) {
    if (sym.type !== STT.FILE || sym.name === '') continue;
    counts.set(sym.name, (counts.get(sym.name) ?? 0) + 1);
  }
  return [...counts]
    .filter(([, n]) => n > 1)
    .map(([file, blocks]) => ({ file, blocks }))
    .sort((a, b) => byteCompare(a.file, b.file));
}
