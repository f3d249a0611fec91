import type { Database } from 'better-sqlite3';
import type { CheckResult } from '../contract.ts';
import { buildsOfRun as buildRowsOfRun, type BuildPhase } from '../db/builds.ts';
import { findingsOfRun, type FindingDbRow } from '../db/findings.ts';
import { replyOfRun as storedReplyOfRun } from '../db/replies.ts';
import { parseJsonArray } from '../db/row.ts';
import { runDetailRow } from '../db/run-reads.ts';
import { mailText } from '../mail/parse.ts';
import type { BuildRow, FindingRow, ReplyRow, RunDetail } from './types.ts';

/** Everything about one run: the stored CheckResult plus the rows and times around it. */
export function getRun(db: Database, id: number): RunDetail | null {
  const r = runDetailRow(db, id);
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

export function findingFromRow(f: FindingDbRow, b: { toolchain: string; phase: BuildPhase }): FindingRow {
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
  const findings = findingsOfRun(db, runId);
  return buildRowsOfRun(db, runId).map((b) => {
    const report = result?.builds.find((x) => x.toolchain === b.toolchain && x.phase === b.phase);
    return {
      id: b.id,
      toolchain: b.toolchain,
      phase: b.phase,
      status: b.status,
      cached: b.cached,
      durationMs: b.duration_ms,
      botError: b.bot_error,
      hasLog: b.log_path !== null,
      excerpts: (report?.errors ?? []).map((e) => e.excerpt).filter((e) => e.length > 0),
      findings: findings.filter((f) => f.build_id === b.id).map((f) => findingFromRow(f, b)),
    };
  });
}

function replyOfRun(db: Database, runId: number): ReplyRow | null {
  const r = storedReplyOfRun(db, runId);
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
    body: mailText(r.raw),
  };
}
