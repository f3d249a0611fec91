// The one-letter class GNU nm prints for a symbol (`T`, `t`, `U`, `a`, ...). Xen's
// tools/symbols decides what to keep and whether to prefix a symbol with its file purely
// from this letter (lowercase = local), so to agree with it we must produce the same letter
// nm would. Mirrors binutils' bfd_decode_symclass and how bfd turns ELF section headers into
// section flags (binutils 2.40, Debian 12).
import { type ElfFile, type ElfSection, type ElfSymbol, EM_X86_64, SHF, SHN, SHT, STB, STT } from './elf.ts';

const SHN_X86_64_LCOMMON = 0xff02;

/** Sections bfd does not turn into a BFD section; a symbol pointing at one lands in *ABS*. */
function hasBfdSection(s: ElfSection): boolean {
  if (s.type === SHT.NULL || s.type === SHT.SYMTAB || s.type === SHT.SYMTAB_SHNDX) return false;
  const alloc = (s.flags & SHF.ALLOC) !== 0n;
  if ((s.type === SHT.STRTAB || s.type === SHT.REL || s.type === SHT.RELA) && !alloc) return false;
  return true;
}

/** bfd recognises debugging sections by name only (bfd/elf.c). */
function isDebugging(name: string): boolean {
  return (
    name.startsWith('.debug') ||
    name.startsWith('.gnu.debuglto_.debug_') ||
    name.startsWith('.gnu.linkonce.wi.') ||
    name.startsWith('.zdebug') ||
    name.startsWith('.line') ||
    name.startsWith('.stab') ||
    name === '.gdb_index'
  );
}

/** PE section names nm still classifies by name (bfd/syms.c coff_section_type). */
const BY_NAME: [string, string][] = [
  ['.drectve', 'i'],
  ['.edata', 'e'],
  ['.idata', 'i'],
  ['.pdata', 'p'],
];

function sectionLetter(s: ElfSection): string {
  for (const [prefix, letter] of BY_NAME) {
    if (s.name.startsWith(prefix)) {
      const next = s.name[prefix.length];
      if (next === undefined || next === '.' || next === '$') return letter;
    }
  }
  const alloc = (s.flags & SHF.ALLOC) !== 0n;
  const hasContents = s.type !== SHT.NOBITS;
  const load = alloc && hasContents;
  const readonly = (s.flags & SHF.WRITE) === 0n;
  if ((s.flags & SHF.EXECINSTR) !== 0n) return 't';
  if (load) return readonly ? 'r' : 'd';
  if (!hasContents) return 'b';
  if (!alloc && isDebugging(s.name)) return 'N';
  if (readonly) return 'n';
  return '?';
}

// One letter per section, worked out once per file: an image has tens of thousands of symbols.
const letters = new WeakMap<ElfFile, string[]>();

function letterOfSection(elf: ElfFile, index: number): string {
  let table = letters.get(elf);
  if (!table) {
    table = elf.sections.map((s) => (hasBfdSection(s) ? sectionLetter(s) : 'a'));
    letters.set(elf, table);
  }
  return table[index] ?? 'a'; // an index past the section table: bfd uses *ABS*
}

/** nm's class letter for a symbol of `elf`. */
export function nmClass(elf: ElfFile, sym: ElfSymbol): string {
  const common = sym.shndx === SHN.COMMON || (elf.machine === EM_X86_64 && sym.shndx === SHN_X86_64_LCOMMON);
  if (common) return 'C';
  const isObject = sym.type === STT.OBJECT || sym.type === STT.COMMON;
  if (sym.shndx === SHN.UNDEF) {
    if (sym.bind === STB.WEAK) return isObject ? 'v' : 'w';
    return 'U';
  }
  if (sym.type === STT.GNU_IFUNC) return 'i';
  if (sym.bind === STB.WEAK) return isObject ? 'V' : 'W';
  if (sym.bind === STB.GNU_UNIQUE) return 'u';
  if (sym.bind !== STB.LOCAL && sym.bind !== STB.GLOBAL) return '?';
  const letter = sym.shndx === SHN.ABS ? 'a' : letterOfSection(elf, sym.shndx);
  return sym.bind === STB.GLOBAL ? letter.toUpperCase() : letter;
}

/** The value nm prints: commons show their size (bfd keeps the size in the value field). */
export function nmValue(elf: ElfFile, sym: ElfSymbol): bigint {
  return nmClass(elf, sym) === 'C' ? sym.size : sym.value;
}

/** The name nm prints: section symbols without a name take their section's name. */
export function nmName(sym: ElfSymbol): string {
  if (sym.name === '' && sym.type === STT.SECTION && sym.section !== null) return sym.section;
  return sym.name;
}
