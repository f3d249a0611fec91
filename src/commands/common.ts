import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/load.ts';
import { createLogger, type Logger } from '../log.ts';

/** What every command gets: the config it was pointed at and a logger on stderr. */
export interface Context {
  config: Config;
  log: Logger;
}

export function configOption(cmd: Command): Command {
  return cmd.option(
    '-c, --config <file>',
    'config file (else $LISTCI_CONFIG, else ./listci.yaml, else embedded defaults)',
  );
}

export function contextFrom(opts: { config?: string }): Context {
  const config = loadConfig({ path: opts.config });
  return { config, log: createLogger(process.env.LISTCI_LOG_LEVEL ?? config.logLevel) };
}

/** Thrown by a command to end with an exit code and no stack trace. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}
