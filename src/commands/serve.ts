import { Command } from 'commander';
import { startWebServer } from '../web/server.ts';
import { configOption, contextFrom } from './common.ts';

export function serveCommand(): Command {
  return configOption(new Command('serve'))
    .description('serve the JSON API, the web page and /metrics over the result database (read-only)')
    .option('--host <host>', 'address to listen on (default: the config’s web.host)')
    .option('--port <port>', 'port (default: the config’s web.port; 0 picks a free one)', (v) => Number(v))
    .addHelpText('after', '\nExample:\n  listci serve --config /etc/listci/xen-devel.yaml --port 8780')
    .action(async (opts: { config?: string; host?: string; port?: number }) => {
      const { config, log } = contextFrom(opts);
      const server = await startWebServer({
        dbPath: config.database,
        host: opts.host ?? config.web.host,
        port: opts.port ?? config.web.port,
        workDir: config.workDir,
        log,
      });
      process.stderr.write(`listci: serving ${server.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
