import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The build dir of a worktree slot is reused across series, so it can still hold objects a
 * previous series added (drivers/util.o from a series that created drivers/util.c). Those are
 * not linked, but the object tracing would name them. An object stays only if its source is
 * in the tree checked out now (or was generated in the build dir); if that would leave a
 * duplicate with no object at all, the original list is kept rather than none.
 */
export function withoutStaleObjects(
  objects: string[],
  roots: { sourceDir: string; buildDir: string },
): string[] {
  const current = objects.filter((o) => sourceExists(o, roots));
  return current.length > 0 ? current : objects;
}

function sourceExists(object: string, roots: { sourceDir: string; buildDir: string }): boolean {
  const stem = object.replace(/(\.init)?\.o$/, '');
  if (stem === object) return true; // not an object file name we understand: keep it
  return ['.c', '.S', '.s'].some(
    (ext) => existsSync(join(roots.sourceDir, stem + ext)) || existsSync(join(roots.buildDir, stem + ext)),
  );
}
