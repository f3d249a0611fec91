import { z } from 'zod';
import type { ApplyResult, BaseChoice, BuildReport } from '../contract.ts';

// The contract's shapes (src/contract.ts) as zod schemas, for what crosses Redis between the
// daemon and a worker: a job's base choice one way, a toolchain's reports the other. Objects
// are not strict: a newer worker may send a field an older daemon does not know yet (the
// contract only ever adds fields), and it is dropped rather than refused.

const findingStatus = z.enum(['new', 'preexisting']);

export const baseChoiceSchema = z.object({
  commit: z.string().regex(/^[0-9a-f]{40}$/, 'a full commit id'),
  ref: z.string().nullable(),
  reason: z.string(),
  steps: z.array(
    z.object({
      rule: z.enum(['base-commit', 'based-on', 'subject-tag', 'default-branch', 'fallback', 'explicit']),
      outcome: z.enum(['chosen', 'skipped', 'unavailable']),
      detail: z.string(),
    }),
  ),
}) satisfies z.ZodType<BaseChoice>;

export const applyResultSchema = z.object({
  ok: z.boolean(),
  applied: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  failedPatch: z
    .object({
      number: z.number().int(),
      total: z.number().int(),
      subject: z.string(),
      messageId: z.string().nullable(),
    })
    .nullable(),
  error: z.string().nullable(),
  conflicts: z.array(z.string()),
  mangled: z.string().nullable(),
  skipped: z.number().int().nonnegative(),
}) satisfies z.ZodType<ApplyResult>;

const duplicate = z.object({
  key: z.string(),
  addresses: z.array(z.string()),
  objects: z.array(z.string()),
  status: findingStatus,
  introducedBy: z.number().int().optional(),
  xenLine: z.string().optional(),
});

const buildError = z.object({
  kind: z.enum(['compiler-error', 'compiler-warning', 'linker', 'kconfig', 'make', 'duplicate-check']),
  file: z.string().nullable(),
  line: z.number().int().nullable(),
  message: z.string(),
  excerpt: z.string(),
  status: findingStatus,
  introducedBy: z.number().int().optional(),
});

export const buildReportSchema = z.object({
  toolchain: z.string(),
  phase: z.enum(['baseline', 'series']),
  status: z.enum(['pass', 'fail', 'error', 'timeout', 'skipped']),
  durationMs: z.number().nonnegative(),
  cached: z.boolean(),
  duplicates: z.object({ new: z.array(duplicate), preexisting: z.array(duplicate) }),
  fileCollisions: z.array(
    z.object({ file: z.string(), objects: z.array(z.string()), status: findingStatus }),
  ),
  errors: z.array(buildError),
  botError: z.string().nullable(),
  verdict: z.enum(['pass', 'fail', 'error']).optional(),
  logPath: z.string().nullable(),
  arch: z.string().optional(),
  skipped: z.string().nullable().optional(),
  mode: z
    .object({
      clean: z.boolean(),
      rule: z.enum(['no-snapshot', 'build-rules-changed', 'incremental']),
      reason: z.string(),
      from: z.string().nullable(),
    })
    .nullable()
    .optional(),
  stopped: z.string().nullable().optional(),
}) satisfies z.ZodType<BuildReport>;
