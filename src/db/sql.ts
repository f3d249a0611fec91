// Small pieces of SQL the read queries share.

/** A LIKE pattern that matches `text` literally anywhere; use with ESCAPE '\'. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Toolchain names carry versions ("clang-14", "gcc-12"): asking for "clang" means any of
 * them, asking for "clang-14" means that one. Binds @tc and @tcPrefix.
 */
export const TOOLCHAIN_MATCH = `(b.toolchain = @tc OR b.toolchain LIKE @tcPrefix ESCAPE '\\')`;

export function toolchainParams(tc: string): { tc: string; tcPrefix: string } {
  return { tc, tcPrefix: `${tc.replace(/[\\%_]/g, (c) => `\\${c}`)}-%` };
}

/**
 * A toolchain's verdict on the series (builds alias `b`): recorded since migration 0003;
 * older rows fall back to make's outcome, a timeout being listci's error as in the pipeline.
 */
export const TOOLCHAIN_VERDICT = `coalesce(b.verdict, CASE b.status WHEN 'timeout' THEN 'error' WHEN 'skipped' THEN 'error' ELSE b.status END)`;

/** The latest finished run of series `s` (the table alias must be `s`). */
export const LATEST_RUN_OF_SERIES = `(SELECT r.id FROM series_versions v JOIN runs r ON r.version_id = v.id
  WHERE v.series_id = s.id AND r.state = 'done' ORDER BY r.id DESC LIMIT 1)`;
