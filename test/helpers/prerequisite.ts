// A test whose prerequisite is missing is skipped on a developer's machine, with the reason,
// but in CI (CI=true, where scripts/test.sh has installed everything) it fails: a test that
// CI silently skips tests nothing.

/** Pass what is missing (or null/false when all is there); returns the `skip` option value. */
export function skipUnlessCi(missing: string | null | false | undefined): string | false {
  if (!missing) return false;
  if (process.env.CI) throw new Error(`test prerequisite missing in CI: ${missing}`);
  return missing;
}
