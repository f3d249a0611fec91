import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { openDb } from '../db/open.ts';
import { versionWithSeries } from '../db/versions.ts';
import { importMaildir } from '../ingest/maildir.ts';
import { splitMbox } from '../ingest/mbox.ts';
import { ingestMessages, type IngestSummary } from '../ingest/process.ts';
import { backfill } from './ingest-public-inbox.ts';
import { configOption, contextFrom, ExitError } from './common.ts';

interface Opts {
  config?: string;
  mbox?: string;
  maildir?: string;
  publicInbox?: string;
  since?: string;
  json?: boolean;
}

export function ingestCommand(): Command {
  return configOption(new Command('ingest'))
    .description(
      'import mail from an mbox file or a Maildir into the database: store every mail as it is, ' +
        'classify it (patch, cover letter, reply, pull request, report) and group patches into series',
    )
    .option('--mbox <file>', 'an mbox file (mboxrd or mboxo, e.g. from lore or `b4 mbox`)')
    .option('--maildir <dir>', 'a Maildir; mails in new/ are moved to cur/ once stored')
    .option(
      '--public-inbox <url>',
      'a public-inbox v2 archive (https://lore.kernel.org/xen-devel, or a local inbox): new mail since the last import',
    )
    .option(
      '--since <span>',
      'with --public-inbox, on its first import: only mail newer than this (14d, 2w, a date)',
    )
    .option('--json', 'one JSON object on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  listci ingest --mbox ~/Downloads/20240501-xen-sched.mbx --config xen-devel.yaml\n' +
        '  listci ingest --public-inbox https://lore.kernel.org/xen-devel --since 14d',
    )
    .action(async (opts: Opts) => {
      if ([opts.mbox, opts.maildir, opts.publicInbox].filter(Boolean).length !== 1)
        throw new ExitError(
          'ingest: give exactly one of --mbox FILE, --maildir DIR or --public-inbox URL',
          2,
        );
      if (opts.since && !opts.publicInbox) throw new ExitError('ingest: --since goes with --public-inbox', 2);
      const { config, log } = contextFrom(opts);
      const db = openDb(config.database);
      try {
        // Stored and grouped, never replied to: only the daemon queues checks and replies.
        const summary: IngestSummary = opts.mbox
          ? ingestMessages(db, splitMbox(readFileSync(opts.mbox)), `mbox:${opts.mbox}`, config)
          : opts.maildir
            ? importMaildir(db, opts.maildir, config)
            : await backfill(db, config, log, opts.publicInbox!, opts.since ?? null);
        const series = describeVersions(db, summary.versions);
        if (opts.json) {
          console.log(JSON.stringify({ ...summary, series }));
          return;
        }
        console.log(
          `${summary.messages} mails read, ${summary.stored} new, ${summary.duplicates} already stored`,
        );
        for (const [kind, n] of Object.entries(summary.kinds).sort())
          console.log(`  ${kind.padEnd(10)} ${n}`);
        console.log(`${series.length} series versions touched`);
        for (const s of series) {
          const missing = s.missing.length ? ` (missing ${s.missing.join(', ')})` : '';
          console.log(`  v${s.version} ${s.title} [${s.state}${missing}] <${s.head}>`);
        }
      } finally {
        db.close();
      }
    });
}

function describeVersions(db: ReturnType<typeof openDb>, ids: number[]) {
  return ids.flatMap((id) => {
    const v = versionWithSeries(db, id);
    if (!v) return [];
    const { title, version, total, state } = v;
    return [
      {
        id,
        title,
        version,
        total,
        state,
        missing: JSON.parse(v.missing) as number[],
        head: v.head_message_id,
      },
    ];
  });
}
