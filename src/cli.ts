import { Command, CommanderError } from 'commander';
import { ConfigError } from './config/load.ts';
import { SchemaTooNewError } from './db/migrate.ts';
import { ExitError } from './commands/common.ts';
import { checkCommand } from './commands/check.ts';
import { daemonCommand } from './commands/daemon.ts';
import { dbCommand } from './commands/db.ts';
import { imagesCommand } from './commands/images.ts';
import { ingestCommand } from './commands/ingest.ts';
import { queryCommand } from './commands/query.ts';
import { serveCommand } from './commands/serve.ts';
import { workerCommand } from './commands/worker.ts';
import { VERSION } from './version.ts';

export function program(): Command {
  const p = new Command('listci')
    .description(
      'CI for patch series posted to mailing lists: applies each series, builds Xen with live patching ' +
        'under several compilers, and replies in the thread with the duplicate symbols it introduced.',
    )
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  p.addCommand(checkCommand());
  p.addCommand(daemonCommand());
  p.addCommand(dbCommand());
  p.addCommand(imagesCommand());
  p.addCommand(ingestCommand());
  p.addCommand(queryCommand());
  p.addCommand(serveCommand());
  p.addCommand(workerCommand());
  return p;
}

/** Runs the CLI and returns the exit code: 0 pass, 1 findings, 2 listci could not judge. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ConfigError || e instanceof SchemaTooNewError) {
      process.stderr.write(`listci: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ExitError) {
      process.stderr.write(`listci: ${e.message}\n`);
      return e.code;
    }
    process.stderr.write(
      `listci: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    return 2;
  }
}
