import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** Logs go to stderr (results own stdout): JSON for machines, readable lines on a terminal. */
export function createLogger(level: string = process.env.LISTCI_LOG_LEVEL ?? 'info'): Logger {
  if (process.stderr.isTTY) {
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino({ level }, pino.destination({ fd: 2, sync: true }));
}

/** For tests and library callers that want silence. */
export const silentLogger: Logger = pino({ level: 'silent' });
