// The JSON contract: what `listci check --json` prints, what the database stores in
// runs.result_json, and what `GET /api/runs/:id` serves. Other people script against
// these shapes; add fields, never rename or remove them (docs/api.md).

export type Verdict = 'pass' | 'fail' | 'error';

/** The rules of the base cascade (git/base.ts), and `--base` given by hand. */
export type BaseRule =
  'base-commit' | 'based-on' | 'subject-tag' | 'default-branch' | 'fallback' | 'explicit';

/** One step of the base cascade, in the order it was tried. */
export interface BaseStep {
  rule: BaseRule;
  outcome: 'chosen' | 'skipped' | 'unavailable';
  detail: string;
}

export interface BaseChoice {
  commit: string;
  ref: string | null;
  reason: string; // one line a human reads: "base-commit trailer of 1/3 (found in mirror)"
  steps: BaseStep[];
}

export interface ApplyResult {
  ok: boolean;
  applied: number; // how many patches went in
  total: number;
  failedPatch: { number: number; total: number; subject: string; messageId: string | null } | null;
  error: string | null; // git's own words, trimmed
  conflicts: string[]; // files git named
  mangled: string | null; // e.g. "format=flowed re-wrapped the patch" when the mail client damaged it
  skipped: number; // patches after the failed one that were not tried
}

export type FindingStatus = 'new' | 'preexisting';

export interface DuplicateSymbol {
  key: string; // Xen's key: 'file.c#name' for locals, 'name' for globals
  addresses: string[]; // hex, as tools/symbols prints them
  objects: string[]; // object files in the build dir that define it, relative to the build dir
  status: FindingStatus;
  introducedBy?: number; // per-patch mode (build.perPatch): the first patch m of m/n with it
  xenLine?: string; // Xen's own "Duplicate symbol '…' (… != …)" line for it in the build log, when its check printed one
}

export interface FileCollision {
  file: string; // STT_FILE name that appears in more than one block
  objects: string[];
  status: FindingStatus;
}

export interface BuildError {
  kind: 'compiler-error' | 'compiler-warning' | 'linker' | 'kconfig' | 'make' | 'duplicate-check';
  file: string | null;
  line: number | null;
  message: string;
  excerpt: string;
  status: FindingStatus;
  introducedBy?: number; // per-patch mode: the first patch m of m/n with it
}

export type BuildStatus = 'pass' | 'fail' | 'error' | 'timeout' | 'skipped';

export interface BuildReport {
  toolchain: string;
  phase: 'baseline' | 'series';
  status: BuildStatus;
  durationMs: number;
  cached: boolean; // baseline served from the cache
  duplicates: { new: DuplicateSymbol[]; preexisting: DuplicateSymbol[] };
  fileCollisions: FileCollision[]; // warnings: live-patch tools resolve locals by file name
  errors: BuildError[];
  botError: string | null; // the bot's own failure (missing image, crashed runner): never blamed on the series
  verdict?: Verdict; // series phase: this toolchain's judgement (fail for anything new, even if make passed)
  logPath: string | null;
  arch?: string; // Xen's XEN_TARGET_ARCH of the toolchain: x86_64, arm64, …
  skipped?: string | null; // status 'skipped': why the toolchain was not built (build.skipUntouchedArch)
  mode?: BuildMode | null; // clean or incremental, and why; null when the baseline came from the cache
  stopped?: string | null; // why listci stopped the build (past the series' time or build dir limit)
}

/** How a build started: from an empty build dir, or incrementally from a trusted snapshot. */
export interface BuildMode {
  clean: boolean;
  rule: 'no-snapshot' | 'build-rules-changed' | 'incremental';
  reason: string; // "built from scratch: the series changes the build rules (xen/Rules.mk)"
  from: string | null; // the commit of the snapshot it started from; null when clean
}

export interface SeriesSummary {
  title: string;
  version: number;
  author: string; // "Name <addr>"
  messageId: string | null; // cover letter or first patch
  patches: { number: number; subject: string; messageId: string | null }[];
  complete: boolean;
  missing: number[];
}

export interface CheckResult {
  listciVersion: string;
  series: SeriesSummary;
  base: BaseChoice | null;
  apply: ApplyResult | null;
  builds: BuildReport[];
  verdict: Verdict;
  summary: string; // one line: "fail: 2 new duplicate symbols under clang-14"
  startedAt: string;
  finishedAt: string;
}

export const EXIT = { pass: 0, fail: 1, error: 2 } as const;

// The headers that mark a mail as listci's own: the reply writer sets them on every mail
// it sends, and the classifier reads them so that listci never answers itself. Other
// robots on the list filter on them too; like the shapes above, they do not change.

/** Carries the run id; present on every mail listci sends. */
export const RUN_HEADER = 'X-Listci-Run';
/** RFC 3834: tells other robots (and listci) not to answer. */
export const AUTO_SUBMITTED = 'Auto-Submitted';
export const AUTO_SUBMITTED_VALUE = 'auto-generated';

/** True for a mail that listci (any instance) sent: header names are case-insensitive. */
export function isListciMail(headerNames: Iterable<string>): boolean {
  for (const h of headerNames) if (h.toLowerCase() === RUN_HEADER.toLowerCase()) return true;
  return false;
}
