// Plain data for the queue's unit tests: toolchains, a series, one toolchain's job result.
import type { ToolchainConfig } from '../../src/config/schema.ts';
import type { ApplyResult, BaseChoice, BuildReport, DuplicateSymbol } from '../../src/contract.ts';
import { makeResult, type BuildJobResult } from '../../src/queue/job.ts';
import type { SeriesToCheck } from '../../src/series/types.ts';

export const toolchain = (name: string, extra: Partial<ToolchainConfig> = {}): ToolchainConfig => ({
  name,
  image: null,
  cc: name.startsWith('clang') ? 'clang' : 'gcc',
  hostcc: null,
  makeArgs: [],
  configFragment: [],
  ...extra,
});

export const BASE: BaseChoice = {
  commit: 'af01803ea8110ee0b6a6a1f3c1d4e1f2a3b4c5d6',
  ref: 'staging',
  reason: 'base-commit trailer of patch 1/2 (found in mirror)',
  steps: [{ rule: 'base-commit', outcome: 'chosen', detail: 'found in mirror' }],
};

/** Bytes a mail really carries: CRLF, a trailing space, Latin-1, a NUL, an unpaired UTF-8 byte. */
export const AWKWARD_MAIL = Buffer.concat([
  Buffer.from('From: Ren\xe9 <rene@example.org>\r\nSubject: [PATCH 1/2] x86: fix\r\n\r\n', 'latin1'),
  Buffer.from('diff --git a/xen/a.c b/xen/a.c\n+int x; \n', 'utf8'),
  Buffer.from([0x00, 0xc3, 0x28, 0xff, 0x0a]),
]);

export function series(): SeriesToCheck {
  return {
    title: 'x86: fix',
    version: 2,
    author: 'René <rene@example.org>',
    tags: [],
    cover: null,
    patches: [
      {
        number: 1,
        total: 2,
        subject: '[PATCH v2 1/2] x86: fix',
        messageId: 'p1@x',
        raw: AWKWARD_MAIL,
        mangled: null,
      },
      {
        number: 2,
        total: 2,
        subject: '[PATCH v2 2/2] x86: more',
        messageId: null,
        raw: Buffer.from('second\n'),
        mangled: 'format=flowed',
      },
    ],
    missing: [],
  };
}

export const APPLIED: ApplyResult = {
  ok: true,
  applied: 2,
  total: 2,
  failedPatch: null,
  error: null,
  conflicts: [],
  mangled: null,
  skipped: 0,
};

export function dup(key: string): DuplicateSymbol {
  return { key, addresses: ['ffff82d040221afe', 'ffff82d04022149e'], objects: ['a.o', 'b.o'], status: 'new' };
}

export function report(
  tool: string,
  phase: 'baseline' | 'series',
  over: Partial<BuildReport> = {},
): BuildReport {
  return {
    toolchain: tool,
    arch: 'x86_64',
    phase,
    status: 'pass',
    durationMs: 1000,
    cached: false,
    duplicates: { new: [], preexisting: [] },
    fileCollisions: [],
    errors: [],
    botError: null,
    logPath: `${phase}-${tool}.log`,
    mode: null,
    stopped: null,
    ...over,
  };
}

export function result(
  tool: string,
  over: { apply?: ApplyResult; builds?: BuildReport[]; worker?: string } = {},
): BuildJobResult {
  const builds = over.builds ?? [report(tool, 'baseline'), report(tool, 'series')];
  return makeResult({
    toolchain: tool,
    worker: over.worker ?? 'w1',
    apply: over.apply ?? APPLIED,
    builds,
    logs: builds.flatMap((b) =>
      b.logPath ? [{ path: b.logPath, data: Buffer.from(`log of ${b.logPath}\n`) }] : [],
    ),
    buildWindow: { startedAt: '2026-01-01T10:00:00.000Z', finishedAt: '2026-01-01T10:01:00.000Z' },
    timings: {
      startedAt: '2026-01-01T09:59:59.000Z',
      finishedAt: '2026-01-01T10:01:00.000Z',
      prepareMs: 1000,
      checkMs: 60_000,
    },
  });
}
