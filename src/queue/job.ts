import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/load.ts';
import { buildSection, toolchain as toolchainSchema, type ToolchainConfig } from '../config/schema.ts';
import type { ApplyResult, BuildReport } from '../contract.ts';
import type { BaseDecision } from '../git/base.ts';
import type { PatchMail, SeriesToCheck } from '../series/types.ts';
import { VERSION } from '../version.ts';
import { applyResultSchema, baseChoiceSchema, buildReportSchema } from './wire.ts';

// What travels through Redis: one job per (run, toolchain), and its result. Both sides parse
// what they read with these schemas, because it comes off the network; mail bytes travel as
// base64 so that `git am` on the worker is fed exactly what the list delivered.

/** Bumped when a payload or result changes shape in a way an older peer would misread. */
export const WIRE_VERSION = 1;

/** One toolchain's queue; a worker listens only on the queues of the toolchains it has. */
export const queueName = (toolchain: string): string => `build-${toolchain}`;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

const patchMail = z.object({
  number: z.number().int().positive(),
  total: z.number().int().positive(),
  subject: z.string(),
  messageId: z.string().nullable(),
  raw: base64,
  mangled: z.string().nullable(),
});

/**
 * The daemon's rules of how to build and judge, as a job carries them. What the host can give
 * (runner, make -j, memory, CPUs, caches) is the worker's own config; see config/worker.ts.
 */
const buildRules = buildSection
  .pick({
    recipe: true,
    perPatch: true,
    skipUntouchedArch: true,
    timeoutMinutes: true,
    jobTimeoutMinutes: true,
    seriesTimeoutFactor: true,
    seriesTimeoutFloorMinutes: true,
    maxBuildDirMb: true,
    logCapKb: true,
  })
  .extend({ gitTimeoutSeconds: z.number().int().positive() });
export type BuildRules = z.infer<typeof buildRules>;

export const buildJobPayload = z.object({
  v: z.literal(WIRE_VERSION),
  runId: z.number().int().positive(),
  attempt: z.number().int().nonnegative(),
  /** Where the worker's own mirror fetches from. */
  repoUrl: z.string().min(1),
  base: baseChoiceSchema,
  /** Based-on series' patches, oldest first, applied before the series' own. */
  prerequisites: z.array(patchMail),
  series: z.object({
    title: z.string(),
    version: z.number().int().positive(),
    author: z.string(),
    patches: z.array(patchMail).min(1),
  }),
  toolchain: toolchainSchema,
  build: buildRules,
  /** Of the toolchain and the rules: two jobs with the same hash build the same way. */
  configHash: z.string().regex(/^[0-9a-f]{64}$/),
  listciVersion: z.string(),
  enqueuedAt: z.string(),
});
export type BuildJobPayload = z.infer<typeof buildJobPayload>;

export const buildJobResult = z.object({
  v: z.literal(WIRE_VERSION),
  toolchain: z.string(),
  /** The worker that built it (its config's name). */
  worker: z.string(),
  apply: applyResultSchema,
  /** This toolchain's reports; each logPath is relative to the job's log dir (the files in `logs`). */
  builds: z.array(buildReportSchema),
  /** The build logs, capped (build.logCapKb), as base64. */
  logs: z.array(z.object({ path: z.string().min(1), data: base64 })),
  buildWindow: z.object({ startedAt: z.string(), finishedAt: z.string() }).nullable(),
  timings: z.object({
    startedAt: z.string(),
    finishedAt: z.string(),
    /** Mirror, fetch of a base the worker lacked. */
    prepareMs: z.number().nonnegative(),
    /** Worktree, apply, builds, checks. */
    checkMs: z.number().nonnegative(),
  }),
});
export type BuildJobResult = z.infer<typeof buildJobResult>;

export function buildRulesOf(config: Config): BuildRules {
  const b = config.build;
  return {
    recipe: b.recipe,
    perPatch: b.perPatch,
    skipUntouchedArch: b.skipUntouchedArch,
    timeoutMinutes: b.timeoutMinutes,
    jobTimeoutMinutes: b.jobTimeoutMinutes,
    seriesTimeoutFactor: b.seriesTimeoutFactor,
    seriesTimeoutFloorMinutes: b.seriesTimeoutFloorMinutes,
    maxBuildDirMb: b.maxBuildDirMb,
    logCapKb: b.logCapKb,
    gitTimeoutSeconds: config.repo.gitTimeoutSeconds,
  };
}

export interface PayloadInput {
  runId: number;
  attempt: number;
  repoUrl: string;
  decision: BaseDecision;
  series: SeriesToCheck;
  toolchain: ToolchainConfig;
  rules: BuildRules;
}

export function makePayload(p: PayloadInput, at: Date = new Date()): BuildJobPayload {
  return {
    v: WIRE_VERSION,
    runId: p.runId,
    attempt: p.attempt,
    repoUrl: p.repoUrl,
    base: p.decision.choice,
    prerequisites: p.decision.prerequisites.map(wirePatch),
    series: {
      title: p.series.title,
      version: p.series.version,
      author: p.series.author,
      patches: p.series.patches.map(wirePatch),
    },
    toolchain: p.toolchain,
    build: p.rules,
    configHash: sha256(JSON.stringify([VERSION, p.toolchain, p.rules])),
    listciVersion: VERSION,
    enqueuedAt: at.toISOString(),
  };
}

/**
 * The BullMQ job id: the same run, attempt and inputs give the same id, so adding it again
 * (a daemon restarted mid-wait, Redis restarted empty) finds or remakes the one job rather
 * than a second. Another base or other patches (the mirror moved between two tries) is
 * another job.
 */
export function jobIdFor(payload: BuildJobPayload, runKey: string): string {
  const inputs = sha256(
    JSON.stringify([
      // Run ids start again in a new database; the run's queued-at time tells two runs 1 apart.
      runKey,
      payload.configHash,
      payload.base.commit,
      payload.prerequisites.map((p) => p.raw),
      payload.series.patches.map((p) => p.raw),
    ]),
  );
  return `run-${payload.runId}-a${payload.attempt}-${payload.toolchain.name}-${inputs.slice(0, 12)}`;
}

/** Validates a job's data as the worker reads it from Redis; throws naming the field. */
export function parsePayload(data: unknown): BuildJobPayload {
  const r = buildJobPayload.safeParse(data);
  if (!r.success) throw new Error(`malformed build job: ${issueLine(r.error)}`);
  return r.data;
}

/** Validates a finished job's return value as the daemon reads it; throws naming the field. */
export function parseResult(data: unknown): BuildJobResult {
  const r = buildJobResult.safeParse(data);
  if (!r.success) throw new Error(`malformed build result: ${issueLine(r.error)}`);
  return r.data;
}

/** The payload's mails as the git stage takes them, bytes as they were posted. */
export function patchesOf(payload: BuildJobPayload): { series: PatchMail[]; prerequisites: PatchMail[] } {
  const mail = (p: z.infer<typeof patchMail>): PatchMail => ({ ...p, raw: Buffer.from(p.raw, 'base64') });
  return { series: payload.series.patches.map(mail), prerequisites: payload.prerequisites.map(mail) };
}

/** What the worker returns, from the check it ran. */
export interface ResultInput {
  toolchain: string;
  worker: string;
  apply: ApplyResult;
  builds: BuildReport[];
  logs: { path: string; data: Buffer }[];
  buildWindow: { startedAt: string; finishedAt: string } | null;
  timings: BuildJobResult['timings'];
}

/**
 * The most a returned log may hold: the build's capped output plus listci's own lines after it
 * (limits, stops). The worker caps to it; the daemon refuses more, since the bytes come off the network.
 */
export function logBytesCap(logCapKb: number): number {
  return logCapKb * 1024 + 64 * 1024;
}

export function makeResult(r: ResultInput): BuildJobResult {
  return {
    v: WIRE_VERSION,
    ...r,
    logs: r.logs.map((l) => ({ path: l.path, data: l.data.toString('base64') })),
  };
}

function wirePatch(p: PatchMail): z.infer<typeof patchMail> {
  return {
    number: p.number,
    total: p.total,
    subject: p.subject,
    messageId: p.messageId,
    raw: p.raw.toString('base64'),
    mangled: p.mangled,
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function issueLine(err: z.ZodError): string {
  const i = err.issues[0];
  return i ? `${i.path.map(String).join('.') || '(top level)'}: ${i.message}` : 'invalid';
}
