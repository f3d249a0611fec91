import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { EXIT, type CheckResult } from '../contract.ts';
import { runnerFromConfig } from '../build/select-runner.ts';
import { openDb } from '../db/open.ts';
import { recordCheckResult } from '../db/runs.ts';
import { RangeError, seriesFromRange } from '../git/range.ts';
import { runCheck, type CheckProgress } from '../pipeline/check.ts';
import { summaryText } from '../pipeline/summary-text.ts';
import { progressLine } from '../pipeline/progress-line.ts';
import type { SeriesToCheck } from '../series/types.ts';
import { configOption, contextFrom, ExitError } from './common.ts';
import { storedSeries } from './check-stored.ts';
import { MboxSeriesError, seriesFromMbox } from './series-from-mbox.ts';

interface CheckOptions {
  config?: string;
  mbox?: string;
  range?: string;
  messageId?: string;
  repo: string;
  base?: string;
  toolchains?: string;
  json?: boolean;
  record: boolean;
}

export function checkCommand(): Command {
  return configOption(new Command('check'))
    .description(
      'check one series without mail: apply it, build with every toolchain, compare with the base.\n' +
        'Exit 0: pass, 1: the series has findings, 2: listci could not judge.',
    )
    .option('--mbox <file>', 'the series as an mbox (or one .eml)')
    .option('--range <A..B>', "commits A..B of a local repository: a contributor's check before posting")
    .option(
      '--message-id <id>',
      'a series the database holds (ingested, e.g. by `ingest --public-inbox`): any of its mails',
    )
    .option('--repo <dir>', 'the repository --range is read from', '.')
    .option('--base <ref>', 'build on this commit or branch instead of choosing the base')
    .option('--toolchains <names>', 'comma-separated subset of the configured toolchains')
    .option('--json', 'print one JSON object (the contract in docs/api.md) instead of the summary')
    .option('--no-record', 'do not write the result to the database')
    .addHelpText(
      'after',
      '\nExamples:\n  listci check --range origin/staging..HEAD --repo ~/src/xen --toolchains gcc-12,clang\n' +
        '  listci check --mbox v2-series.mbox --json',
    )
    .action(async (opts: CheckOptions) => {
      process.exitCode = await check(opts);
    });
}

async function check(opts: CheckOptions): Promise<number> {
  if ([opts.mbox, opts.range, opts.messageId].filter(Boolean).length !== 1)
    throw new ExitError(
      'check: give exactly one of --mbox FILE, --range A..B or --message-id ID',
      EXIT.error,
    );
  const { config, log } = contextFrom(opts);
  const toolchains = pickToolchains(config.build.toolchains, opts.toolchains);

  let series: SeriesToCheck;
  let mirror: { url: string; path: string };
  let versionId: number | undefined;
  try {
    if (opts.messageId) {
      ({ series, versionId } = storedSeries(config, opts.messageId));
      if (!config.repo.url)
        throw new ExitError('check: repo.url is not configured: no tree to apply the series to', EXIT.error);
      mirror = { url: config.repo.url, path: config.repo.mirror };
    } else if (opts.range) {
      const repo = resolve(opts.repo);
      series = (await seriesFromRange(repo, opts.range)).series;
      // The contributor's own clone is the upstream; its mirror is kept apart from the list's.
      const key = createHash('sha256').update(repo).digest('hex').slice(0, 16);
      mirror = { url: repo, path: join(config.workDir, 'mirrors', `${key}.git`) };
    } else {
      series = seriesFromMbox(resolve(opts.mbox!), config);
      if (!config.repo.url)
        throw new ExitError('check: repo.url is not configured: no tree to apply the series to', EXIT.error);
      mirror = { url: config.repo.url, path: config.repo.mirror };
    }
  } catch (e) {
    if (e instanceof RangeError || e instanceof MboxSeriesError)
      throw new ExitError(`check: ${e.message}`, EXIT.error);
    throw e;
  }

  const runDir = join(
    config.workDir,
    'logs',
    `check-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`,
  );
  mkdirSync(runDir, { recursive: true });
  const abort = new AbortController();
  const stop = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let result: CheckResult;
  let buildWindow: { startedAt: string; finishedAt: string } | undefined;
  try {
    result = await runCheck({
      config,
      series,
      // Its own owner label: a daemon starting on the same engine leaves this check's builds alone.
      runner: runnerFromConfig(config.build, log, 'check'),
      mirror,
      explicitBase: opts.base ?? null,
      toolchains,
      logDir: runDir,
      log,
      signal: abort.signal,
      onProgress: progressPrinter(),
      onBuildWindow: (w) => (buildWindow = w),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }

  if (opts.record) {
    const db = openDb(config.database);
    try {
      const id = recordCheckResult(db, {
        result,
        ...(versionId !== undefined ? { versionId } : {}),
        origin: 'check',
        timestamps: {
          buildStartedAt: buildWindow?.startedAt ?? null,
          buildFinishedAt: buildWindow?.finishedAt ?? null,
        },
      });
      log.debug({ run: id }, 'recorded');
    } finally {
      db.close();
    }
  }
  process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : summaryText(result));
  // Exit 2 says "not judged" to a script; the line on stderr says why, as for every other exit 2.
  if (result.verdict === 'error') process.stderr.write(`listci: check: ${result.summary}\n`);
  return EXIT[result.verdict];
}

function pickToolchains<T extends { name: string }>(all: T[], wanted: string | undefined): T[] {
  if (!wanted) return all;
  const names = wanted
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !all.some((t) => t.name === n));
  if (unknown.length)
    throw new ExitError(
      `check: unknown toolchain ${unknown.join(', ')} (configured: ${all.map((t) => t.name).join(', ')})`,
      EXIT.error,
    );
  return all.filter((t) => names.includes(t.name));
}

/** Live progress on stderr, one line per step with the elapsed time. */
function progressPrinter(): (p: CheckProgress) => void {
  const t = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`;
  return (p) => process.stderr.write(`${t(p.elapsedMs)}  ${progressLine(p)}\n`);
}
