import { Command, Option } from 'commander';
import { openDb, type Database } from '../db/open.ts';
import { listFindings } from '../query/findings.ts';
import { getSeries } from '../query/series-detail.ts';
import { listSeries } from '../query/series-list.ts';
import { parseSince } from '../since.ts';
import { weeklyStats } from '../query/stats.ts';
import { describeWorkersText, listWorkerViews } from '../query/workers.ts';
import { escapeTerminal, formatTable } from '../query/terminal.ts';
import type { RunDetail, SeriesDetail, SeriesFilters } from '../query/types.ts';
import { applyLine, baseLine } from '../result-words.ts';
import { loadConfig } from '../config/load.ts';
import { configOption, ExitError } from './common.ts';

interface DbOpts {
  config?: string;
  db?: string;
  json?: boolean;
}

function withDb<T>(opts: DbOpts, fn: (db: Database) => T): T {
  const path = opts.db ?? loadConfig({ path: opts.config }).database;
  let db: Database;
  try {
    db = openDb(path, { readonly: true });
  } catch (e) {
    throw new ExitError(`${path}: cannot open the database read-only: ${(e as Error).message}`, 2);
  }
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function since(text: string | undefined): string | undefined {
  if (!text) return undefined;
  try {
    return parseSince(text);
  } catch (e) {
    throw new ExitError((e as Error).message, 2);
  }
}

const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
const day = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') : null);

/** Shared by every subcommand: where the database is and how to print. */
function common(cmd: Command): Command {
  return configOption(cmd)
    .option('--db <file>', 'database file (default: the config\'s "database")')
    .option('--json', 'one JSON document on stdout, for scripts');
}

const verdictOption = () =>
  new Option('--verdict <verdict>', 'latest verdict (with --toolchain: that toolchain’s build)').choices([
    'pass',
    'fail',
    'error',
  ]);

export function queryCommand(): Command {
  const q = new Command('query').description(
    'answer questions about checked series without writing SQL: what broke, what was fixed, what the bot said',
  );

  common(q.command('series'))
    .description('list series newest first, with the latest verdict per toolchain')
    .option('--author <text>', 'part of the author’s name or address')
    .option('--subject <text>', 'words in the series title')
    .option('--list <name>', 'mailing list name')
    .addOption(verdictOption())
    .option('--toolchain <name>', '"clang" matches clang-14 too; "clang-14" only that one')
    .option('--since <when>', 'activity since: 7d, 2w, 12h or a date')
    .option('--version <n>', 'series that have a version n', (v) => Number(v))
    .option('--limit <n>', 'rows per page (max 200)', (v) => Number(v), 50)
    .option('--cursor <cursor>', 'the next page, as printed after the table')
    .addHelpText(
      'after',
      '\nExample: which series broke clang this week?\n  listci query series --toolchain clang --verdict fail --since 7d',
    )
    .action((o: DbOpts & SeriesFilters & { limit: number; cursor?: string }) =>
      withDb(o, (db) => {
        let page;
        try {
          page = listSeries(
            db,
            {
              author: o.author,
              subject: o.subject,
              list: o.list,
              verdict: o.verdict,
              toolchain: o.toolchain,
              since: since(o.since),
              version: o.version,
            },
            { limit: o.limit, cursor: o.cursor ?? null },
          );
        } catch (e) {
          if (e instanceof ExitError) throw e;
          throw new ExitError((e as Error).message, 2);
        }
        if (o.json) return out(JSON.stringify(page));
        if (page.items.length === 0) return out('no series match');
        out(
          formatTable(
            ['ID', 'VERDICT', 'TOOLCHAINS', 'V', 'UPDATED', 'AUTHOR', 'TITLE'],
            page.items.map((s) => [
              s.id,
              s.latestRun?.verdict ?? 'unchecked',
              s.toolchains
                .map((t) => `${t.toolchain}:${t.verdict}${t.newDuplicates ? `(${t.newDuplicates} new)` : ''}`)
                .join(' ') || '-',
              `v${s.latestVersion}`,
              day(s.updatedAt),
              s.author,
              s.title,
            ]),
          ),
        );
        if (page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
      }),
    );

  common(q.command('show'))
    .description('one series: every version, run, build, duplicate symbol and the reply the bot sent')
    .argument('<message-id|id>', 'any Message-ID of the series (cover letter or a patch), or its id')
    .addHelpText(
      'after',
      '\nExample: did v2 fix what v1 broke?\n  listci query show 20241105.12345-1-roger.pau@citrix.com',
    )
    .action((key: string, o: DbOpts) =>
      withDb(o, (db) => {
        const s = getSeries(db, key);
        if (!s) throw new ExitError(`series ${escapeTerminal(key)}: no series has this id or Message-ID`, 1);
        out(o.json ? JSON.stringify(s) : describeSeriesText(s));
      }),
    );

  common(q.command('findings'))
    .description(
      'findings across all runs, newest first: who introduced which duplicate symbol, under which compiler',
    )
    .option(
      '--symbol <key>',
      '"hvm.c#cpu_callback" exactly, "cpu_callback" in any file, or a glob "*.isra.0"',
    )
    .option('--toolchain <name>', '"clang" matches clang-14 too')
    .option('--new-only', 'only findings the series introduced (not pre-existing in the base)')
    .option('--kind <kind>', 'duplicate-symbol, file-collision, compiler-error, linker, …')
    .option('--since <when>', 'runs finished since: 7d, 2w or a date')
    .option('--limit <n>', 'rows (max 500)', (v) => Number(v), 50)
    .addHelpText(
      'after',
      '\nExample: has anyone ever introduced hvm.c#cpu_callback before?\n  listci query findings --symbol hvm.c#cpu_callback --new-only',
    )
    .action(
      (
        o: DbOpts & {
          symbol?: string;
          toolchain?: string;
          newOnly?: boolean;
          kind?: string;
          since?: string;
          limit: number;
        },
      ) =>
        withDb(o, (db) => {
          const page = listFindings(
            db,
            {
              symbol: o.symbol,
              toolchain: o.toolchain,
              newOnly: o.newOnly,
              kind: o.kind,
              since: since(o.since),
            },
            { limit: o.limit },
          );
          if (o.json) return out(JSON.stringify(page));
          if (page.items.length === 0) return out('no findings match');
          out(
            formatTable(
              ['RUN', 'FINISHED', 'TOOLCHAIN', 'STATUS', 'FINDING', 'SERIES'],
              page.items.map((f) => [
                f.runId,
                day(f.finishedAt),
                f.toolchain,
                f.status,
                f.symbol ?? f.message,
                f.series ? `v${f.series.version} ${f.series.title} (${f.series.author})` : '(local check)',
              ]),
            ),
          );
        }),
    );

  common(q.command('stats'))
    .description('series builds per toolchain per week: pass, fail (incl. timeout), bot error')
    .option('--since <when>', 'from: 12w, 30d or a date', '12w')
    .addHelpText('after', '\nExample:\n  listci query stats --since 8w')
    .action((o: DbOpts & { since: string }) =>
      withDb(o, (db) => {
        const rows = weeklyStats(db, since(o.since)!);
        if (o.json) return out(JSON.stringify(rows));
        if (rows.length === 0) return out('no builds in this period');
        out(
          formatTable(
            ['WEEK', 'TOOLCHAIN', 'PASS', 'FAIL', 'ERROR'],
            rows.map((r) => [r.week, r.toolchain, r.pass, r.fail, r.error]),
          ),
        );
      }),
    );
  common(q.command('workers'))
    .description(
      'build hosts (listci worker) and their last heartbeat, and the jobs waiting in each toolchain’s queue',
    )
    .addHelpText(
      'after',
      '\nExample: is any worker building clang-14, and when was each last heard from?\n  listci query workers',
    )
    .action((o: DbOpts) =>
      withDb(o, (db) => {
        const view = listWorkerViews(db);
        out(o.json ? JSON.stringify(view) : describeWorkersText(view));
      }),
    );
  return q;
}

function describeRunText(r: RunDetail): string[] {
  const lines = [`  run ${r.id}: ${r.verdict ?? r.state} — ${r.summary ?? ''}`];
  if (r.base.commit) lines.push(`    base ${baseLine(r.base)}`);
  if (r.apply && !r.apply.ok) {
    lines.push(`    apply ${applyLine(r.apply)}`);
    for (const l of (r.apply.error ?? '').split('\n')) lines.push(`      ${l}`);
  }
  for (const b of r.builds) {
    const dups = b.findings.filter((f) => f.kind === 'duplicate-symbol');
    lines.push(
      `    ${b.toolchain} (${b.phase}): ${b.status}${b.botError ? ` — bot error: ${b.botError}` : ''}` +
        (b.durationMs !== null ? `, ${Math.round(b.durationMs / 1000)} s` : ''),
    );
    for (const f of dups) lines.push(`      ${f.status} duplicate ${f.symbol} (${f.objects.join(', ')})`);
  }
  if (r.reply) {
    lines.push(
      `    reply ${r.reply.state}${r.reply.sentAt ? ` ${day(r.reply.sentAt)}` : ''}: ${r.reply.subject}`,
    );
    if (r.reply.reason) lines.push(`      (${r.reply.reason})`);
    for (const l of r.reply.body.trimEnd().split('\n')) lines.push(`      | ${l}`);
  }
  return lines;
}

/** Every line escaped: subjects, names and even the reply body quote attacker-written text. */
export function describeSeriesText(s: SeriesDetail): string {
  const lines = [`${s.title}`, `by ${s.author} on ${s.list}, ${s.versions.length} version(s)`];
  for (const v of s.versions) {
    lines.push('', `v${v.version}${v.resend ? ' RESEND' : ''} (${v.state}) <${v.headMessageId}>`);
    for (const p of v.patches) lines.push(`  ${p.number}/${v.total} ${p.subject}`);
    if (v.runs.length === 0) lines.push('  not checked yet');
    for (const r of v.runs) lines.push(...describeRunText(r));
  }
  return lines.map(escapeTerminal).join('\n');
}
