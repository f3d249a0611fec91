import type { Database } from 'better-sqlite3';
import type { BuildStatus, CheckResult, Verdict } from '../contract.ts';
import { replyBodyText } from './reply-text.ts';
import { stmt } from '../db/stmt.ts';
import { parseJsonArray } from './sql.ts';
import type { BuildRow, FindingRow, ReplyRow, RunDetail } from './types.ts';

interface RunRow {
  id: number;
  version_id: number | null;
  series_id: number | null;
  version: number | null;
  origin: string;
  state: string;
  verdict: Verdict | null;
  summary: string | null;
  base_commit: string | null;
  base_ref: string | null;
  base_reason: string | null;
  result_json: string | null;
  mail_received_at: string | null;
  series_complete_at: string | null;
  queued_at: string | null;
  started_at: string | null;
  build_started_at: string | null;
  build_finished_at: string | null;
  finished_at: string | null;
  reply_sent_at: string | null;
  reply_row_sent_at: string | null;
}

/** Everything about one run: the stored CheckResult plus the rows and times around it. */
export function getRun(db: Database, id: number): RunDetail | null {
  const r = stmt(
    db,
    `SELECT r.*, v.series_id, v.version, rp.sent_at AS reply_row_sent_at FROM runs r
       LEFT JOIN series_versions v ON v.id = r.version_id
       LEFT JOIN replies rp ON rp.run_id = r.id
       WHERE r.id = ?`,
  ).get(id) as RunRow | undefined;
  if (!r) return null;
  let result: CheckResult | null = null;
  if (r.result_json) {
    try {
      result = JSON.parse(r.result_json) as CheckResult;
    } catch {
      result = null; // a damaged row still shows its columns
    }
  }
  return {
    id: r.id,
    versionId: r.version_id,
    seriesId: r.series_id,
    version: r.version,
    origin: r.origin,
    state: r.state,
    verdict: r.verdict,
    summary: r.summary,
    base: {
      commit: r.base_commit,
      ref: r.base_ref,
      reason: r.base_reason,
      steps: result?.base?.steps ?? [],
    },
    apply: result?.apply ?? null,
    timestamps: {
      mailReceived: r.mail_received_at,
      seriesComplete: r.series_complete_at,
      queued: r.queued_at,
      started: r.started_at,
      buildStart: r.build_started_at,
      buildEnd: r.build_finished_at,
      finished: r.finished_at,
      replySent: r.reply_sent_at ?? r.reply_row_sent_at,
    },
    builds: buildsOfRun(db, r.id, result),
    reply: replyOfRun(db, r.id),
    result,
  };
}

interface BuildDbRow {
  id: number;
  toolchain: string;
  phase: 'baseline' | 'series';
  status: BuildStatus;
  cached: number;
  duration_ms: number | null;
  bot_error: string | null;
  log_path: string | null;
}

interface FindingDbRow {
  id: number;
  build_id: number;
  kind: string;
  status: 'new' | 'preexisting';
  symbol: string | null;
  objects: string;
  file: string | null;
  line: number | null;
  message: string;
}

export function findingFromRow(f: FindingDbRow, b: { toolchain: string; phase: string }): FindingRow {
  return {
    id: f.id,
    kind: f.kind,
    status: f.status,
    symbol: f.symbol,
    objects: parseJsonArray<string>(f.objects),
    file: f.file,
    line: f.line,
    message: f.message,
    buildId: f.build_id,
    toolchain: b.toolchain,
    phase: b.phase,
  };
}

function buildsOfRun(db: Database, runId: number, result: CheckResult | null): BuildRow[] {
  const builds = stmt(db, 'SELECT * FROM builds WHERE run_id = ? ORDER BY phase DESC, toolchain, id').all(
    runId,
  ) as BuildDbRow[];
  const findings = stmt(db, 'SELECT * FROM findings WHERE run_id = ? ORDER BY status, kind, symbol, id').all(
    runId,
  ) as FindingDbRow[];
  return builds.map((b) => {
    const report = result?.builds.find((x) => x.toolchain === b.toolchain && x.phase === b.phase);
    return {
      id: b.id,
      toolchain: b.toolchain,
      phase: b.phase,
      status: b.status,
      cached: b.cached === 1,
      durationMs: b.duration_ms,
      botError: b.bot_error,
      hasLog: b.log_path !== null,
      excerpts: (report?.errors ?? []).map((e) => e.excerpt).filter((e) => e.length > 0),
      findings: findings.filter((f) => f.build_id === b.id).map((f) => findingFromRow(f, b)),
    };
  });
}

interface ReplyDbRow {
  message_id: string;
  subject: string;
  state: string;
  reason: string | null;
  recipients: string;
  raw: Buffer;
  created_at: string;
  sent_at: string | null;
}

function replyOfRun(db: Database, runId: number): ReplyRow | null {
  const r = stmt(db, 'SELECT * FROM replies WHERE run_id = ?').get(runId) as ReplyDbRow | undefined;
  if (!r) return null;
  let to: string[] = [];
  let cc: string[] = [];
  try {
    const rc = JSON.parse(r.recipients) as { to?: string[]; cc?: string[] };
    to = rc.to ?? [];
    cc = rc.cc ?? [];
  } catch {
    // recipients unreadable: the body still says what the bot told the author
  }
  return {
    messageId: r.message_id,
    subject: r.subject,
    state: r.state,
    reason: r.reason,
    to,
    cc,
    createdAt: r.created_at,
    sentAt: r.sent_at,
    body: replyBodyText(r.raw),
  };
}
