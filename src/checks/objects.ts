// Which object files in a build directory define a duplicate key, so a reply can say
// "defined in arch/x86/a.o and arch/x86/b.o" instead of two bare addresses.
//
// What counts as an object: every `*.o` under the build dir except link aggregates, which
// would name every duplicate twice:
//   * `built_in.o`, `built_in_bin.o`, `prelink*.o` — `ld -r` of the objects below them;
//   * hidden objects (`.xen-syms.0.o`, `.xen.efi.1.o`) — Xen's generated symbol tables;
//   * `foo.o` when `foo.init.o` sits beside it — Xen links the objcopy'd `.init.o` copy.
import { readdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { readBuildFile, UnsafeFileError } from '../safe-file.ts';
import { ElfError, STT, parseElf } from './elf.ts';
import { xenSymbols } from './duplicates.ts';

/** Xen's largest object with debug info is a few MB; a bigger .o is not worth reading. */
const MAX_OBJECT_BYTES = 256 * 1024 * 1024;

const AGGREGATE = /^(built_in(_bin)?|prelink.*)\.o$/;

async function walk(dir: string, into: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // unreadable directory: nothing of ours to trace there
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    // No symlinks: a link back up the tree would loop, and a linked object is counted where it lives.
    if (e.isDirectory()) await walk(path, into);
    else if (e.isFile() && e.name.endsWith('.o')) into.push(path);
  }
}

/** The objects worth tracing in `buildDir`, as paths relative to it, sorted. */
export async function listObjects(buildDir: string): Promise<string[]> {
  const all: string[] = [];
  await walk(buildDir, all);
  const rel = new Set(all.map((p) => relative(buildDir, p)));
  return [...rel]
    .filter((p) => {
      const name = basename(p);
      if (AGGREGATE.test(name) || name.startsWith('.')) return false;
      if (!name.endsWith('.init.o') && rel.has(p.replace(/\.o$/, '.init.o'))) return false;
      return true;
    })
    .sort();
}

/** Does a key's file part (`arch/x86/entry.o`, `entry.o`) name the object at `rel`? */
function fileNamesObject(file: string, rel: string): boolean {
  return file === rel || rel.endsWith(`/${file}`) || file.endsWith(`/${rel}`);
}

export interface TraceResult {
  objects: Map<string, string[]>; // key -> relative object paths, sorted
  files: Map<string, string[]>; // STT_FILE name -> objects with a block of that name
  unreadable: { object: string; problem: string }[];
}

/**
 * For each key, the objects whose own symbol tables define it. A local in an object with no
 * STT_FILE before it (assembler without `.file`) has no file in the object; ld names its block
 * after the object path it was given, so such a local matches `<that path>#name`.
 */
export async function traceKeys(
  buildDir: string,
  keys: string[],
  fileNames: string[] = [],
): Promise<TraceResult> {
  const wanted = new Set(keys);
  const byName = new Map<string, string[]>(); // bare name -> keys of the form file#name
  for (const key of keys) {
    const hash = key.lastIndexOf('#');
    if (hash <= 0) continue;
    const name = key.slice(hash + 1);
    byName.set(name, [...(byName.get(name) ?? []), key]);
  }
  const objects = new Map<string, string[]>(keys.map((k) => [k, []]));
  const files = new Map<string, string[]>(fileNames.map((f) => [f, []]));
  const unreadable: TraceResult['unreadable'] = [];
  if (wanted.size === 0 && files.size === 0) return { objects, files, unreadable };

  for (const rel of await listObjects(buildDir)) {
    let elf;
    try {
      const bytes = await readBuildFile(buildDir, rel, MAX_OBJECT_BYTES);
      if (!bytes) continue; // listed a moment ago: removed since, so not part of this build
      elf = parseElf(bytes, rel);
    } catch (e) {
      if (!(e instanceof ElfError) && !(e instanceof UnsafeFileError)) throw e;
      unreadable.push({ object: rel, problem: e.message });
      continue;
    }
    const own = new Set(elf.symtab.filter((s) => s.type === STT.FILE).map((s) => s.name));
    for (const [f, list] of files) {
      // Without any STT_FILE of its own, the object's block is named after its path by ld.
      if (own.size === 0 ? fileNamesObject(f, rel) : own.has(f)) list.push(rel);
    }
    const found = new Set<string>();
    for (const s of xenSymbols(elf)) {
      if (wanted.has(s.key) && (s.file !== null || s.nmClass === s.nmClass.toUpperCase())) found.add(s.key);
      if (s.file === null && s.nmClass !== s.nmClass.toUpperCase()) {
        for (const key of byName.get(s.name) ?? []) {
          if (fileNamesObject(key.slice(0, key.lastIndexOf('#')), rel)) found.add(key);
        }
      }
    }
    for (const key of found) objects.get(key)?.push(rel);
  }
  return { objects, files, unreadable };
}
