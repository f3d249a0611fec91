// One call for the build stage's output: duplicate symbols of the hypervisor image, traced to
// objects, STT_FILE collisions, and findings in the build log. Plain data in, plain data out;
// comparing with the baseline is compareWithBaseline's job (compare.ts).
import { access } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ElfError, readElf } from './elf.ts';
import { findDuplicates, findFileCollisions } from './duplicates.ts';
import { traceKeys } from './objects.ts';
import { parseBuildLog } from './buildlog.ts';
import type { Findings } from './compare.ts';

export { ElfError, parseElf, readElf } from './elf.ts';
export { findDuplicates, findFileCollisions, xenSymbols } from './duplicates.ts';
export { listObjects, traceKeys } from './objects.ts';
export { parseBuildLog, stripAnsi } from './buildlog.ts';
export { compareWithBaseline, hasNewFailures, normaliseMessage } from './compare.ts';
export type { Findings, ComparedFindings } from './compare.ts';

export interface CheckBuildInput {
  buildDir: string;
  /** The linked image, e.g. `xen-syms`; relative paths are inside buildDir. */
  image: string;
  /** What is left when Xen's own duplicate check stops the link, e.g. `.xen-syms.1`. */
  intermediateImage?: string | null;
  logText: string;
}

export interface CheckBuildOutput extends Findings {
  /** Which image the symbols came from, relative as given; null when neither was there. */
  imageChecked: string | null;
  /** Why symbols were not checked, or an object that could not be read; null when all went well. */
  problems: string[];
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function checkBuildOutput(input: CheckBuildInput): Promise<CheckBuildOutput> {
  const errors = parseBuildLog(input.logText);
  const at = (p: string) => (isAbsolute(p) ? p : join(input.buildDir, p));
  const candidates = [input.image, input.intermediateImage].filter((p): p is string => !!p);
  let chosen: string | null = null;
  for (const c of candidates) {
    if (await exists(at(c))) {
      chosen = c;
      break;
    }
  }
  if (chosen === null) {
    return {
      duplicates: [],
      fileCollisions: [],
      errors,
      imageChecked: null,
      problems: [
        `no image to check symbols in: neither ${candidates.map((c) => at(c)).join(' nor ')} exists (the link did not get that far)`,
      ],
    };
  }

  let elf;
  try {
    elf = await readElf(at(chosen));
  } catch (e) {
    if (!(e instanceof ElfError)) throw e;
    return { duplicates: [], fileCollisions: [], errors, imageChecked: chosen, problems: [e.message] };
  }
  const problems: string[] = [];
  if (elf.symtab.length === 0)
    problems.push(`${at(chosen)} has no .symtab (stripped?): duplicates not checked`);
  const dups = findDuplicates(elf);
  const collisions = findFileCollisions(elf);
  const traced = await traceKeys(
    input.buildDir,
    dups.map((d) => d.key),
    collisions.map((c) => c.file),
  );
  problems.push(...traced.unreadable.map((u) => `object ${u.object} not traced: ${u.problem}`));
  return {
    duplicates: dups.map((d) => ({ ...d, objects: traced.objects.get(d.key) ?? [] })),
    fileCollisions: collisions.map((c) => ({ file: c.file, objects: traced.files.get(c.file) ?? [] })),
    errors,
    imageChecked: chosen,
    problems,
  };
}
