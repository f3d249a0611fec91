import type { Config } from '../config/load.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import type { ApplyResult, BaseChoice, BuildReport, CheckResult, SeriesSummary } from '../contract.ts';
import type { ProgressEvent } from '../build/toolchain-build.ts';
import type { Runner } from '../build/runner.ts';
import { assertRoom } from '../build/disk-space.ts';
import { chooseBase, NoBaseError, type BaseDecision } from '../git/base.ts';
import { ensureMirror, fetchMirror, type MirrorConfig } from '../git/mirror.ts';
import type { Logger } from '../log.ts';
import type { SeriesToCheck } from '../series/types.ts';
import { VERSION } from '../version.ts';
import { checkOnBase } from './on-base.ts';
import { decideVerdict } from './verdict.ts';

// One check of one series: base → apply → baseline build → series build → findings → verdict.
// Plain data in (the series, the config), a CheckResult out. The caller (the CLI or the
// daemon) records it and replies; nothing here touches the database or sends mail.
//
// It comes in two halves: choosing the base (the mirror and the base cascade, here), and
// everything after (on-base.ts). With a build queue (queue.type: redis) the daemon runs the
// first half itself and hands the second to `listci worker`s, one job per toolchain.

export type CheckProgress =
  | { stage: 'mirror'; detail: string; elapsedMs: number }
  | { stage: 'base'; base: BaseChoice; elapsedMs: number }
  | { stage: 'apply'; apply: ApplyResult; elapsedMs: number }
  | { stage: 'build'; event: ProgressEvent; elapsedMs: number };

export interface CheckRequest {
  config: Config;
  series: SeriesToCheck;
  runner: Runner;
  /** Upstream and local mirror; the daemon's is config.repo, a contributor's is their own clone. */
  mirror: MirrorConfig;
  explicitBase?: string | null;
  resolveBasedOn?: (messageId: string) => Promise<SeriesToCheck | null>;
  toolchains: ToolchainConfig[];
  /** Where this run's build logs go. */
  logDir: string;
  log: Logger;
  onProgress?: (p: CheckProgress) => void;
  signal?: AbortSignal;
  /** When builds started and ended, for the run's per-stage timestamps. */
  onBuildWindow?: (w: { startedAt: string; finishedAt: string }) => void;
}

export async function runCheck(input: CheckRequest): Promise<CheckResult> {
  const startedAt = new Date();
  const base = await chooseRunBase({ ...input, startedAt });
  if (!base.decision) return base.result;
  const out = await checkOnBase({ ...input, decision: base.decision, startedAt });
  if (out.buildWindow) input.onBuildWindow?.(out.buildWindow);
  return checkResult({
    series: input.series,
    startedAt,
    base: base.decision.choice,
    apply: out.apply,
    builds: out.builds,
  });
}

export type BaseRequest = Pick<
  CheckRequest,
  'config' | 'series' | 'mirror' | 'explicitBase' | 'resolveBasedOn' | 'onProgress' | 'signal'
> & { startedAt: Date };

/** The base a check runs on, or the check's result when there is none (listci's error, exit 2). */
export type BaseOutcome = { decision: BaseDecision; result: null } | { decision: null; result: CheckResult };

/** The first half of a check: bring the mirror up to date, and choose the base (saying why). */
export async function chooseRunBase(input: BaseRequest): Promise<BaseOutcome> {
  const { config, series, signal, startedAt } = input;
  const elapsed = () => Date.now() - startedAt.getTime();
  const timeoutMs = config.repo.gitTimeoutSeconds * 1000;
  // A full work dir would make the series look broken (see build/disk-space.ts): not now.
  assertRoom(config.workDir, 'before the check');
  await ensureMirror(input.mirror, { signal, timeoutMs });
  const fetched = await fetchMirror(input.mirror, {
    maxAgeSeconds: config.repo.fetchIntervalMinutes * 60,
    signal,
    timeoutMs,
  });
  input.onProgress?.({
    stage: 'mirror',
    detail: fetched.fetched ? 'fetched' : `fresh (${Math.round(fetched.ageSeconds)} s old)`,
    elapsedMs: elapsed(),
  });
  try {
    const decision = await chooseBase(series, {
      mirror: input.mirror,
      repo: config.repo,
      explicitBase: input.explicitBase ?? null,
      resolveBasedOn: input.resolveBasedOn,
      signal,
      timeoutMs,
    });
    input.onProgress?.({ stage: 'base', base: decision.choice, elapsedMs: elapsed() });
    return { decision, result: null };
  } catch (e) {
    if (!(e instanceof NoBaseError)) throw e;
    return {
      decision: null,
      result: checkResult({
        series,
        startedAt,
        base: null,
        apply: null,
        builds: [],
        summary: `error: ${e.message}`,
      }),
    };
  }
}

/**
 * The CheckResult of a finished check: the verdict is decided here from the apply result
 * and the builds, unless `summary` says why listci could not judge (verdict error).
 */
export function checkResult(r: {
  series: SeriesToCheck;
  startedAt: Date;
  base: BaseChoice | null;
  apply: ApplyResult | null;
  builds: BuildReport[];
  summary?: string;
}): CheckResult {
  const v = decideVerdict(r.apply, r.builds);
  return {
    listciVersion: VERSION,
    series: summarise(r.series),
    base: r.base,
    apply: r.apply,
    builds: r.builds,
    verdict: r.summary !== undefined ? 'error' : v.verdict,
    summary: r.summary ?? v.summary,
    startedAt: r.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
  };
}

export function summarise(s: SeriesToCheck): SeriesSummary {
  const head = s.cover ?? s.patches[0];
  return {
    title: s.title,
    version: s.version,
    author: s.author,
    messageId: head?.messageId ?? null,
    patches: s.patches.map((p) => ({ number: p.number, subject: p.subject, messageId: p.messageId })),
    complete: s.missing.length === 0,
    missing: s.missing,
  };
}
