// One call for the build stage's output: duplicate symbols of the hypervisor image, traced to
// objects, STT_FILE collisions, and findings in the build log. Plain data in, plain data out;
// comparing with the baseline is compareWithBaseline's job (compare.ts).
import { join } from 'node:path';
import { readBuildFile, statBuildFile, UnsafeFileError } from '../safe-file.ts';
import { ElfError, parseElf, type ElfFile } from './elf.ts';
import { findDuplicates, findFileCollisions } from './duplicates.ts';
import { traceKeys } from './objects.ts';
import { parseBuildLog } from './buildlog.ts';
import type { Findings } from './compare.ts';
import type { BuildError } from '../contract.ts';

export { ElfError, parseElf, readElf } from './elf.ts';
export { findDuplicates, findFileCollisions, xenSymbols } from './duplicates.ts';
export { listObjects, traceKeys } from './objects.ts';
export { parseBuildLog, stripAnsi } from './buildlog.ts';
export {
  compareWithBaseline,
  foldXenDuplicateLines,
  hasNewFailures,
  newFailures,
  normaliseMessage,
} from './compare.ts';
export type { Findings, ComparedFindings } from './compare.ts';

export interface BuildArtifacts {
  buildDir: string;
  /** The linked image, e.g. `xen-syms`, relative to buildDir. */
  image: string;
  /** What is left when Xen's own duplicate check stops the link, e.g. `.xen-syms.1`. */
  intermediateImage?: string | null;
  logText: string;
  /** The build failed; it started at this time (ms): images older than that are stale. */
  failedSinceMs?: number | null;
}

export interface CheckBuildOutput extends Findings {
  /** Which image the symbols came from, relative as given; null when neither was there. */
  imageChecked: string | null;
  /** Why symbols were not checked, or an object that could not be read; null when all went well. */
  problems: string[];
}

/**
 * The image whose symbols speak for this build. A passing build's linked image is it, however
 * old (make may have had nothing to relink). A failed build can leave the previous build's
 * images behind in a reused build dir, so only an image written by this build counts, the
 * newer of the two (Xen's --error-dup stops after `.xen-syms.1`, leaving an old `xen-syms`).
 */
async function chooseImage(input: BuildArtifacts): Promise<string | null> {
  const candidates = [input.image, input.intermediateImage].filter((p): p is string => !!p);
  const found: { path: string; mtimeMs: number }[] = [];
  for (const c of candidates) {
    const st = await statBuildFile(input.buildDir, c);
    if (st) found.push({ path: c, mtimeMs: st.mtimeMs });
  }
  if (!input.failedSinceMs) return found[0]?.path ?? null;
  const fresh = found.filter((f) => f.mtimeMs >= input.failedSinceMs! - 1000);
  fresh.sort((a, b) => b.mtimeMs - a.mtimeMs);
  return fresh[0]?.path ?? null;
}

/** A linked hypervisor with debug info is tens of MB; far more is not a Xen image. */
export const MAX_IMAGE_BYTES = 1024 * 1024 * 1024;

/** An ELF file the build wrote, read without trusting it: UnsafeFileError for a link, FIFO or giant. */
export async function readBuildElf(
  buildDir: string,
  rel: string,
  maxBytes = MAX_IMAGE_BYTES,
): Promise<ElfFile> {
  const bytes = await readBuildFile(buildDir, rel, maxBytes);
  if (!bytes) throw new ElfError(rel, null, 'no such file');
  return parseElf(bytes, rel);
}

/**
 * The image is not a file listci reads (a symlink, a FIFO, far too big): only the build can have
 * made it so, so it is the build's failure, stated as such, never a hang or a host read.
 */
function unsafeImage(e: UnsafeFileError, image: string): BuildError {
  const message = `${e.message}: not the linked image`;
  return { kind: 'linker', file: image, line: null, message, excerpt: message, status: 'new' };
}

export async function checkBuildOutput(input: BuildArtifacts): Promise<CheckBuildOutput> {
  const errors = parseBuildLog(input.logText);
  const at = (p: string) => join(input.buildDir, p);
  const none = { duplicates: [], fileCollisions: [] };
  let chosen;
  try {
    chosen = await chooseImage(input);
  } catch (e) {
    if (!(e instanceof UnsafeFileError)) throw e;
    return {
      ...none,
      errors: [...errors, unsafeImage(e, input.image)],
      imageChecked: null,
      problems: [e.message],
    };
  }
  if (chosen === null) {
    return {
      ...none,
      errors,
      imageChecked: null,
      problems: [
        `no image to check symbols in: neither ${[input.image, input.intermediateImage]
          .filter((p): p is string => !!p)
          .map((c) => at(c))
          .join(' nor ')} was written by this build (the link did not get that far)`,
      ],
    };
  }

  let elf;
  try {
    elf = await readBuildElf(input.buildDir, chosen);
  } catch (e) {
    if (e instanceof UnsafeFileError)
      return {
        ...none,
        errors: [...errors, unsafeImage(e, chosen)],
        imageChecked: chosen,
        problems: [e.message],
      };
    if (!(e instanceof ElfError)) throw e;
    return { ...none, errors, imageChecked: chosen, problems: [e.message] };
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
