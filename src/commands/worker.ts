import { Command } from 'commander';
import { loadWorkerConfig } from '../config/worker.ts';
import { EXIT } from '../contract.ts';
import { createLogger } from '../log.ts';
import { ExitError } from './common.ts';

export function workerCommand(): Command {
  return new Command('worker')
    .description(
      'a build host for a daemon with queue.type redis: takes the build jobs of the toolchains whose ' +
        'images this host has, builds them in its own containers and sends the results back.\n' +
        'Stops cleanly on SIGTERM or Ctrl-C, giving the jobs it was building back to the queue.',
    )
    .requiredOption('-c, --config <file>', 'worker config (queue, workDir, build, toolchains)')
    .addHelpText('after', '\nExample:\n  listci worker -c /etc/listci/worker.yaml')
    .action(async (opts: { config: string }) => {
      await worker(opts.config);
    });
}

async function worker(path: string): Promise<void> {
  const config = loadWorkerConfig(path);
  const log = createLogger(process.env.LISTCI_LOG_LEVEL ?? config.logLevel).child({ worker: config.name });
  // Loaded here, not at the top: the embedded default never loads BullMQ (queue/redis.ts).
  const { BuildWorker, NoToolchainError } = await import('../queue/build-worker.ts');
  let w: Awaited<ReturnType<typeof BuildWorker.start>>;
  try {
    w = await BuildWorker.start({ config, log });
  } catch (e) {
    if (e instanceof NoToolchainError) throw new ExitError(e.message, EXIT.error);
    throw e;
  }
  // One line on stdout once it serves its queues: what a supervisor (or a test) waits for.
  process.stdout.write(`listci worker ${w.name}: building ${w.listening().join(', ')}\n`);
  for (const [t, why] of w.missing) process.stdout.write(`  not ${t}: ${why}\n`);

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      if (++signals > 1) process.exit(EXIT.error);
      log.info('stopping: giving the jobs in progress back to the queue (Ctrl-C again to force)');
      w.stop().then(resolve, (e: unknown) => {
        log.error({ err: e }, 'stopping failed');
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  log.info('stopped');
}
