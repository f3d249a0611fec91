import { Command } from 'commander';
import { openDb } from '../db/open.ts';
import { appliedMigrations, migrate, readMigrations } from '../db/migrate.ts';
import { configOption, contextFrom } from './common.ts';

export function dbCommand(): Command {
  const db = new Command('db').description('create, upgrade and inspect the result database');

  configOption(db.command('migrate'))
    .description('apply pending migrations (safe to run again: applied ones are skipped)')
    .addHelpText('after', '\nExample:\n  listci db migrate --config /etc/listci/xen-devel.yaml')
    .action((opts: { config?: string }) => {
      const { config } = contextFrom(opts);
      const handle = openDb(config.database, { migrate: false });
      try {
        const ran = migrate(handle);
        if (ran.length === 0) console.log(`${config.database}: up to date`);
        for (const m of ran) console.log(`applied ${String(m.version).padStart(4, '0')}_${m.name}`);
      } finally {
        handle.close();
      }
    });

  configOption(db.command('status'))
    .description('list applied and pending migrations')
    .option('--json', 'one JSON object on stdout')
    .addHelpText('after', '\nExample:\n  listci db status --json')
    .action((opts: { config?: string; json?: boolean }) => {
      const { config } = contextFrom(opts);
      const handle = openDb(config.database, { migrate: false });
      try {
        const applied = appliedMigrations(handle);
        const done = new Set(applied.map((a) => a.version));
        const pending = readMigrations().filter((m) => !done.has(m.version));
        if (opts.json) {
          console.log(
            JSON.stringify({
              database: config.database,
              applied,
              pending: pending.map((m) => ({ version: m.version, name: m.name })),
            }),
          );
          return;
        }
        console.log(`database: ${config.database}`);
        for (const a of applied)
          console.log(`applied  ${String(a.version).padStart(4, '0')}_${a.name}  ${a.applied_at}`);
        for (const m of pending) console.log(`pending  ${String(m.version).padStart(4, '0')}_${m.name}`);
      } finally {
        handle.close();
      }
    });
  return db;
}
