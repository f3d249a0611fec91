// Plain rows the query side returns; the CLI prints them and the API serves them as JSON.
// Shapes are documented in docs/api.md: add fields, never rename or remove them.
import type { ApplyResult, BaseStep, BuildStatus, CheckResult, FindingStatus, Verdict } from '../contract.ts';
import type { BuildPhase } from '../db/builds.ts';
import type { FindingKind } from '../db/findings.ts';
import type { ReplyState } from '../db/replies.ts';
import type { RunOrigin, RunState } from '../db/runs.ts';
import type { VersionState } from '../db/versions.ts';

/** One toolchain's series build in a run, as a badge on the list. */
export interface ToolchainBadge {
  toolchain: string;
  status: BuildStatus;
  /** The toolchain's judgement of the series (a build can pass make and still fail the series). */
  verdict: Verdict;
  newDuplicates: number;
}

export interface RunBrief {
  id: number;
  version: number | null;
  verdict: Verdict | null;
  summary: string | null;
  finishedAt: string | null;
}

export interface SeriesListItem {
  id: number;
  list: string;
  title: string;
  author: string; // "Name <addr>"
  authorName: string | null;
  authorAddr: string;
  latestVersion: number;
  versions: number;
  headMessageId: string | null; // of the latest version
  createdAt: string;
  updatedAt: string;
  latestRun: RunBrief | null;
  toolchains: ToolchainBadge[];
}

export interface SeriesFilters {
  author?: string; // substring of name or address
  subject?: string; // substring of the title
  list?: string;
  verdict?: Verdict; // of the latest run; with toolchain: of that toolchain's build
  toolchain?: string; // "clang" also matches "clang-14"
  since?: string; // ISO time: series with activity since then
  version?: number; // series that have this version
}

export interface PageRequest {
  limit: number;
  cursor?: string | null;
  page?: number | null; // 1-based; ignored when a cursor is given
}

export interface Page<T> {
  items: T[];
  limit: number;
  page: number | null;
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface FindingRow {
  id: number;
  kind: FindingKind;
  status: FindingStatus;
  symbol: string | null;
  objects: string[];
  file: string | null;
  line: number | null;
  message: string;
  buildId: number;
  toolchain: string;
  phase: BuildPhase;
}

export interface FindingHit extends FindingRow {
  runId: number;
  verdict: Verdict | null;
  finishedAt: string | null;
  series: { id: number; title: string; author: string; version: number } | null;
}

export interface FindingFilters {
  symbol?: string; // "hvm.c#cpu_callback" exactly, "cpu_callback" by name, or a glob with * or ?
  toolchain?: string;
  newOnly?: boolean;
  kind?: string;
  since?: string;
}

export interface BuildRow {
  id: number;
  toolchain: string;
  phase: BuildPhase;
  status: BuildStatus;
  cached: boolean;
  durationMs: number | null;
  botError: string | null;
  hasLog: boolean;
  /** Lines the checks stage quoted from the log (CheckResult errors[].excerpt). */
  excerpts: string[];
  findings: FindingRow[];
}

export interface ReplyRow {
  messageId: string;
  subject: string;
  state: ReplyState;
  reason: string | null;
  to: string[];
  cc: string[];
  createdAt: string;
  sentAt: string | null;
  body: string;
}

export interface RunTimes {
  mailReceived: string | null;
  seriesComplete: string | null;
  queued: string | null;
  started: string | null;
  buildStart: string | null;
  buildEnd: string | null;
  finished: string | null;
  replySent: string | null;
}

export interface RunDetail {
  id: number;
  versionId: number | null;
  seriesId: number | null;
  version: number | null;
  origin: RunOrigin;
  state: RunState;
  verdict: Verdict | null;
  summary: string | null;
  base: { commit: string | null; ref: string | null; reason: string | null; steps: BaseStep[] };
  apply: ApplyResult | null;
  timestamps: RunTimes;
  builds: BuildRow[];
  reply: ReplyRow | null;
  result: CheckResult | null;
}

export interface VersionDetail {
  id: number;
  version: number;
  total: number;
  resend: boolean;
  subject: string;
  headMessageId: string;
  coverMessageId: string | null;
  tags: string[];
  state: VersionState;
  missing: number[];
  firstSeenAt: string;
  completeAt: string | null;
  patches: { number: number; subject: string; messageId: string }[];
  runs: RunDetail[];
}

export interface SeriesDetail {
  id: number;
  list: string;
  title: string;
  author: string;
  authorName: string | null;
  authorAddr: string;
  createdAt: string;
  updatedAt: string;
  versions: VersionDetail[];
}

export interface WeekStat {
  week: string; // Monday of the week, YYYY-MM-DD
  toolchain: string;
  pass: number;
  fail: number; // fail + timeout
  error: number; // the bot's own errors and skipped builds
}

export interface LatencyPoint {
  runId: number;
  replySentAt: string;
  latencyMs: number; // first mail of the series to reply sent
}
