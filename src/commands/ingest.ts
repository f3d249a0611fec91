import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { openDb } from '../db/open.ts';
import { importMaildir } from '../ingest/maildir.ts';
import { splitMbox } from '../ingest/mbox.ts';
import { ingestMessages, type IngestSummary } from '../ingest/process.ts';
import { configOption, contextFrom, ExitError } from './common.ts';

interface Opts {
  config?: string;
  mbox?: string;
  maildir?: string;
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
    .option('--json', 'one JSON object on stdout')
    .addHelpText(
      'after',
      '\nExample:\n  listci ingest --mbox ~/Downloads/20240501-xen-sched.mbx --config xen-devel.yaml',
    )
    .action((opts: Opts) => {
      if (!opts.mbox === !opts.maildir)
        throw new ExitError('ingest: give exactly one of --mbox FILE or --maildir DIR', 2);
      const { config } = contextFrom(opts);
      const db = openDb(config.database);
      try {
        const summary: IngestSummary = opts.mbox
          ? ingestMessages(db, splitMbox(readFileSync(opts.mbox)), `mbox:${opts.mbox}`, config)
          : importMaildir(db, opts.maildir!, config);
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
  const q = db.prepare(
    `SELECT sv.id, s.title, sv.version, sv.total, sv.state, sv.missing, sv.head_message_id AS head
     FROM series_versions sv JOIN series s ON s.id = sv.series_id WHERE sv.id = ?`,
  );
  return ids.map((id) => {
    const r = q.get(id) as {
      id: number;
      title: string;
      version: number;
      total: number;
      state: string;
      missing: string;
      head: string;
    };
    return { ...r, missing: JSON.parse(r.missing) as number[] };
  });
}
