import { Command } from 'commander';
import { withSecrets } from '../config/load.ts';
import { EXIT } from '../contract.ts';
import { runDaemon } from '../daemon/daemon.ts';
import { prepareDemo } from '../daemon/demo.ts';
import type { JobOutcome } from '../daemon/worker.ts';
import { configOption, contextFrom, ExitError } from './common.ts';

interface DaemonCliOptions {
  config?: string;
  demo?: boolean;
  once?: boolean;
}

export function daemonCommand(): Command {
  return configOption(new Command('daemon'))
    .description(
      'the main job: watch the list, check every series, reply in the thread, serve the results.\n' +
        'Stops cleanly on SIGTERM or Ctrl-C; interrupted checks resume at the next start.',
    )
    .option('--demo', 'run on the bundled demo tree and mailbox (local builds, replies as .eml files)')
    .option('--once', 'process the mail there is now, then exit')
    .addHelpText(
      'after',
      '\nExamples:\n  listci daemon --config /etc/listci/xen-devel.yaml\n  listci daemon --demo',
    )
    .action(async (opts: DaemonCliOptions) => {
      await daemon(opts);
    });
}

async function daemon(opts: DaemonCliOptions): Promise<void> {
  const ctx = contextFrom(opts);
  let config = ctx.config;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  let expected = 0;
  const outcomes: JobOutcome[] = [];
  if (opts.demo) {
    const demo = prepareDemo(config);
    config = demo.config;
    if (demo.toolchains.length === 0)
      throw new ExitError('demo: neither gcc nor clang is installed', EXIT.error);
    expected = 2;
    say(
      `listci demo: a bundled tree (${config.repo.url}) and a mailbox with two series (${config.mail.source.type === 'maildir' ? config.mail.source.path : ''}).`,
    );
    say(
      `  Builds run on this host with ${demo.toolchains.join(' and ')} (the local runner: fine for this bundled, trusted tree).`,
    );
    say('  For real lists, builds run in containers: see README.md, "Configuration for a real list".');
  }
  // The daemon is the command that logs in (IMAP in, SMTP out): its secrets are read here.
  const secretConfig = withSecrets(config);
  const abort = new AbortController();
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) process.exit(EXIT.error);
    ctx.log.info('stopping: finishing up (Ctrl-C again to force)');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runDaemon({
      config: secretConfig,
      log: ctx.log,
      once: opts.once,
      signal: abort.signal,
      onListening: (url) => say(`web page and JSON API: ${url}/`),
      onRun: (o) => {
        if (!opts.demo) return;
        outcomes.push(o);
        const dups = o.result.builds.flatMap((b) =>
          b.duplicates.new.map((d) => `${d.key} (${b.toolchain}: ${d.objects.join(', ')})`),
        );
        say(
          `checked "${o.result.series.title}" by ${o.result.series.author}: ${o.result.verdict.toUpperCase()} — ${o.result.summary}`,
        );
        for (const d of dups) say(`  new duplicate symbol ${d}`);
        if (o.reply?.emlPath) say(`  reply written to ${o.reply.emlPath}`);
        if (outcomes.length === expected) say('demo done: both series checked. Ctrl-C to stop the web page.');
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
