// A bounds-checked ELF reader for section headers and symbol tables: enough to find duplicate
// symbols without shelling out to nm. Input comes from builds of untrusted patches, so every
// offset is checked against the file before it is read, and anything wrong becomes one ElfError
// that says where and what — never a RangeError, a hang or an allocation sized by the file.
import { readFile } from 'node:fs/promises';

export class ElfError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number | null,
    readonly problem: string,
  ) {
    super(`${file}: ${offset === null ? '' : `at offset 0x${offset.toString(16)}: `}${problem}`);
    this.name = 'ElfError';
  }
}

export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  NOBITS: 8,
  REL: 9,
  DYNSYM: 11,
  SYMTAB_SHNDX: 18,
} as const;
export const SHF = { WRITE: 1n, ALLOC: 2n, EXECINSTR: 4n } as const;
export const STT = {
  NOTYPE: 0,
  OBJECT: 1,
  FUNC: 2,
  SECTION: 3,
  FILE: 4,
  COMMON: 5,
  TLS: 6,
  GNU_IFUNC: 10,
} as const;
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2, GNU_UNIQUE: 10 } as const;
export const STV = { DEFAULT: 0, INTERNAL: 1, HIDDEN: 2, PROTECTED: 3 } as const;
export const SHN = { UNDEF: 0, LORESERVE: 0xff00, ABS: 0xfff1, COMMON: 0xfff2, XINDEX: 0xffff } as const;
export const EM_X86_64 = 62;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  entsize: bigint;
}

export interface ElfSymbol {
  index: number; // position in its table; 0 is the null symbol
  name: string;
  value: bigint;
  size: bigint;
  type: number; // STT_*
  bind: number; // STB_*
  visibility: number; // STV_*
  /** The raw st_shndx, or the extended index when st_shndx is SHN_XINDEX. */
  shndx: number;
  /** Name of the section for an ordinary index; null for UNDEF/ABS/COMMON/other reserved or out of range. */
  section: string | null;
}

export interface ElfFile {
  path: string;
  bits: 32 | 64;
  endian: 'little' | 'big';
  type: number; // e_type
  machine: number; // e_machine
  sections: ElfSection[];
  /** .symtab (SHT_SYMTAB), empty when stripped. */
  symtab: ElfSymbol[];
  /** .dynsym (SHT_DYNSYM), empty for static objects. */
  dynsym: ElfSymbol[];
}

/** A little cursor over the file that refuses to read outside it. */
class Reader {
  private readonly view: DataView;
  private readonly text: Buffer;
  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    readonly bits: 32 | 64,
    readonly little: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(offset: number | null, problem: string): never {
    throw new ElfError(this.file, offset, problem);
  }
  need(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      this.fail(
        offset,
        `${what} (${length} bytes) runs past the end of the file (${this.bytes.length} bytes)`,
      );
    }
  }
  u8(o: number): number {
    return this.view.getUint8(o);
  }
  u16(o: number): number {
    return this.view.getUint16(o, this.little);
  }
  u32(o: number): number {
    return this.view.getUint32(o, this.little);
  }
  u64(o: number): bigint {
    return this.view.getBigUint64(o, this.little);
  }
  /** An address-sized field: 4 bytes in ELF32, 8 in ELF64. */
  addr(o: number): bigint {
    return this.bits === 64 ? this.u64(o) : BigInt(this.u32(o));
  }
  /** A file offset or size that must fit in the file. */
  offset(value: bigint, at: number, what: string): number {
    if (value > BigInt(this.bytes.length))
      this.fail(at, `${what} 0x${value.toString(16)} is beyond the file`);
    return Number(value);
  }
  /** A NUL-terminated string inside the string table [start, start+size). */
  cstring(table: { start: number; size: number; name: string }, at: number, what: string): string {
    if (at >= table.size) {
      this.fail(table.start, `${what} name offset ${at} is outside ${table.name} (${table.size} bytes)`);
    }
    const from = table.start + at;
    const end = this.bytes.indexOf(0, from);
    if (end === -1 || end >= table.start + table.size) {
      this.fail(from, `${what} name is not NUL-terminated inside ${table.name}`);
    }
    return this.text.toString('utf8', from, end);
  }
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** Parse an ELF file held in memory. `file` names it in errors. */
export function parseElf(bytes: Uint8Array, file = '<buffer>'): ElfFile {
  if (bytes.length < 16)
    throw new ElfError(file, 0, `too short for an ELF identification (${bytes.length} bytes)`);
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== ELF_MAGIC[i]) throw new ElfError(file, 0, 'not an ELF file (bad magic)');
  }
  const cls = bytes[4];
  const data = bytes[5];
  if (cls !== 1 && cls !== 2) throw new ElfError(file, 4, `unknown ELF class ${cls}`);
  if (data !== 1 && data !== 2) throw new ElfError(file, 5, `unknown ELF data encoding ${data}`);
  const r: Reader = new Reader(bytes, file, cls === 2 ? 64 : 32, data === 1);
  const is64 = r.bits === 64;
  const ehsize = is64 ? 64 : 52;
  r.need(0, ehsize, 'ELF header');

  const type = r.u16(16);
  const machine = r.u16(18);
  const shoffRaw = is64 ? r.u64(40) : BigInt(r.u32(32));
  const shentsize = r.u16(is64 ? 58 : 46);
  let shnum = r.u16(is64 ? 60 : 48);
  let shstrndx = r.u16(is64 ? 62 : 50);

  const sections: RawSection[] = [];
  if (shoffRaw !== 0n) {
    const shoff = r.offset(shoffRaw, is64 ? 40 : 32, 'section header offset');
    const wantEnt = is64 ? 64 : 40;
    if (shentsize < wantEnt)
      r.fail(is64 ? 58 : 46, `section header size ${shentsize} is smaller than ${wantEnt}`);
    r.need(shoff, shentsize, 'section header 0');
    // With 0xff00 or more sections the real count and string-table index live in section 0.
    if (shnum === 0) shnum = r.offset(readSection(r, shoff, 0).size, shoff, 'extended section count');
    if (shstrndx === SHN.XINDEX) shstrndx = readSection(r, shoff, 0).link;
    r.need(shoff, shnum * shentsize, `section header table of ${shnum} entries`);
    for (let i = 0; i < shnum; i++) sections.push(readSection(r, shoff + i * shentsize, i));
    if (shstrndx !== SHN.UNDEF) {
      const strtab = sections[shstrndx];
      if (!strtab) r.fail(is64 ? 62 : 50, `section name table index ${shstrndx} is not a section (${shnum})`);
      const table = tableOf(r, strtab, 'section name table');
      for (const s of sections) s.name = r.cstring(table, s.nameOffset, `section ${s.index}`);
    }
  }

  return {
    path: file,
    bits: r.bits,
    endian: r.little ? 'little' : 'big',
    type,
    machine,
    sections: sections.map(({ nameOffset: _drop, ...s }) => s),
    symtab: readSymbols(r, sections, SHT.SYMTAB),
    dynsym: readSymbols(r, sections, SHT.DYNSYM),
  };
}

/** Read and parse an ELF file from disk. */
export async function readElf(path: string): Promise<ElfFile> {
  return parseElf(await readFile(path), path);
}

type RawSection = ElfSection & { nameOffset: number };

function readSection(r: Reader, at: number, index: number): RawSection {
  const is64 = r.bits === 64;
  return {
    index,
    name: '',
    nameOffset: r.u32(at),
    type: r.u32(at + 4),
    flags: r.addr(at + 8),
    addr: r.addr(at + (is64 ? 16 : 12)),
    offset: r.addr(at + (is64 ? 24 : 16)),
    size: r.addr(at + (is64 ? 32 : 20)),
    link: r.u32(at + (is64 ? 40 : 24)),
    info: r.u32(at + (is64 ? 44 : 28)),
    entsize: r.addr(at + (is64 ? 56 : 36)),
  };
}

function describe(s: ElfSection): string {
  return `section ${s.index}${s.name ? ` (${s.name})` : ''}`;
}

/** The file range of a section whose contents we need. */
function tableOf(r: Reader, s: ElfSection, what: string): { start: number; size: number; name: string } {
  const name = `${what} ${describe(s)}`;
  if (s.type === SHT.NOBITS) r.fail(null, `${name} has no contents (SHT_NOBITS)`);
  const start = r.offset(s.offset, 0, `offset of ${name}`);
  const size = r.offset(s.size, start, `size of ${name}`);
  r.need(start, size, name);
  return { start, size, name };
}

function readSymbols(r: Reader, sections: ElfSection[], kind: number): ElfSymbol[] {
  // Like nm and readelf, use the first table of the kind.
  const table = sections.find((s) => s.type === kind);
  if (!table) return [];
  const is64 = r.bits === 64;
  const entsize = is64 ? 24 : 16;
  const what = describe(table);
  if (table.entsize !== BigInt(entsize)) {
    r.fail(null, `${what} has entry size ${table.entsize}, expected ${entsize}`);
  }
  const body = tableOf(r, table, 'symbol table');
  if (body.size % entsize !== 0)
    r.fail(body.start, `${what} size ${body.size} is not a multiple of ${entsize}`);
  const strSection = sections[table.link];
  if (!strSection || strSection.type !== SHT.STRTAB) {
    r.fail(null, `${what} links to section ${table.link}, which is not a string table`);
  }
  const strings = tableOf(r, strSection, 'string table');
  const xindex = extendedIndexes(r, sections, table.index);

  const count = body.size / entsize;
  const symbols: ElfSymbol[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = body.start + i * entsize;
    const nameOffset = r.u32(at);
    const info = r.u8(at + (is64 ? 4 : 12));
    const other = r.u8(at + (is64 ? 5 : 13));
    let shndx = r.u16(at + (is64 ? 6 : 14));
    const value = is64 ? r.u64(at + 8) : BigInt(r.u32(at + 4));
    const size = is64 ? r.u64(at + 16) : BigInt(r.u32(at + 8));
    if (shndx === SHN.XINDEX) {
      if (!xindex)
        r.fail(at, `symbol ${i} of ${what} uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section`);
      if (i >= xindex.count)
        r.fail(at, `symbol ${i} of ${what} has no entry in the SHT_SYMTAB_SHNDX section`);
      shndx = r.u32(xindex.start + i * 4);
    }
    const ordinary = shndx !== SHN.UNDEF && (shndx < SHN.LORESERVE || shndx > SHN.XINDEX);
    const sec = ordinary ? sections[shndx] : undefined;
    symbols[i] = {
      index: i,
      name: nameOffset === 0 ? '' : r.cstring(strings, nameOffset, `symbol ${i} of ${what}`),
      value,
      size,
      type: info & 0xf,
      bind: info >> 4,
      visibility: other & 0x3,
      shndx,
      section: sec ? sec.name : null,
    };
  }
  return symbols;
}

function extendedIndexes(
  r: Reader,
  sections: ElfSection[],
  symtabIndex: number,
): { start: number; count: number } | null {
  const s = sections.find((x) => x.type === SHT.SYMTAB_SHNDX && x.link === symtabIndex);
  if (!s) return null;
  const body = tableOf(r, s, 'extended section index table');
  return { start: body.start, count: Math.floor(body.size / 4) };
}
