// A real public-inbox v2 archive for the public-inbox source's tests: made by Debian's
// public-inbox (public-inbox-init -V2), mail delivered with public-inbox-mda, purged with
// public-inbox-purge, served on a free loopback port by public-inbox-httpd, so that listci
// clones and fetches its epochs over real git smart HTTP and reads its manifest.js.gz.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './cli.ts';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface TestInbox {
  /** The inbox directory (a local URL for the source). */
  dir: string;
  /** http://127.0.0.1:PORT/NAME, what lore's https://lore.kernel.org/xen-devel is. */
  url: string;
  address: string;
  /** PI_CONFIG and HOME of this archive, for running other public-inbox tools on it. */
  env: NodeJS.ProcessEnv;
  /** One mail through public-inbox-mda, as the list's MTA would hand it over. */
  deliver(raw: Buffer | string): Promise<void>;
  /** Opens the next epoch (git/N+1.git): later mail goes there, as after lore's 1 GB rotation. */
  newEpoch(): Promise<number>;
  /** public-inbox-purge: the mail is cut out of the epoch's history, which is rewritten. */
  purge(raw: Buffer | string): Promise<void>;
  /** Commits in each epoch, oldest epoch first. */
  commitCounts(): number[];
  /** Mails the archive holds: its commits less the ones a purge emptied. */
  mailCount(): number;
  stop(): Promise<void>;
}

/** Why the public-inbox tests cannot run here, or null. */
/** The list the archive tests read: its own name and address, grouping by thread as usual. */
export const TEST_LIST_CONFIG = {
  list: { name: 'test-devel', addresses: ['test-devel@lists.example.org'] },
  series: { groupWindowMinutes: 120 },
};

export function publicInboxMissing(): string | null {
  try {
    execFileSync('public-inbox-mda', ['--help'], { stdio: 'ignore' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      return 'public-inbox is not installed (apt-get install public-inbox)';
  }
  return null;
}

export async function startPublicInbox(opts: { name?: string } = {}): Promise<TestInbox> {
  const name = opts.name ?? 'test-devel';
  const root = tempDir('listci-public-inbox-');
  const dir = join(root, name);
  const address = `${name}@lists.example.org`;
  // Its own config file and HOME: nothing of the host's public-inbox setup takes part.
  const env = { ...process.env, PI_CONFIG: join(root, 'pi-config'), HOME: root, ORIGINAL_RECIPIENT: address };
  const pi = (cmd: string, args: string[], input?: Buffer | string) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`)),
      );
      child.stdin.end(input ?? '');
    });

  const port = await freePort();
  const url = `http://127.0.0.1:${port}/${name}`;
  await run('public-inbox-init', ['-V2', '-L', 'basic', name, dir, url, address], { env });
  // No spam filter on the test host (mda would reject every mail without spamc).
  await run('git', ['config', '-f', env.PI_CONFIG, 'publicinboxmda.spamcheck', 'none']);

  const log: string[] = [];
  const httpd: ChildProcess = spawn('public-inbox-httpd', ['-l', `http://127.0.0.1:${port}`], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (b: Buffer) => log.push(b.toString());
  httpd.stdout!.on('data', keep);
  httpd.stderr!.on('data', keep);
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/manifest.js.gz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (httpd.exitCode !== null || Date.now() > deadline)
      throw new Error(`public-inbox-httpd did not come up on ${port}: ${log.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const epochs = () =>
    execFileSync('ls', [join(dir, 'git')])
      .toString()
      .split('\n')
      .flatMap((f) => (/^(\d+)\.git$/.exec(f) ? [Number(f.slice(0, -4))] : []))
      .sort((a, b) => a - b);
  return {
    dir,
    url,
    address,
    env,
    deliver: (raw) => pi('public-inbox-mda', ['--no-precheck'], raw),
    newEpoch: async () => {
      // What V2Writable does past rotate_bytes (not configurable in 1.9): a new epoch repo,
      // listed in all.git's alternates; mda then writes to the newest epoch.
      const n = (epochs().at(-1) ?? -1) + 1;
      await run(
        'perl',
        [
          '-MPublicInbox::MultiGit',
          '-e',
          'PublicInbox::MultiGit->new($ARGV[0], "all.git", "git")->add_epoch($ARGV[1])',
          dir,
          String(n),
        ],
        { env },
      );
      return n;
    },
    purge: (raw) => pi('public-inbox-purge', ['--all'], raw),
    commitCounts: () =>
      epochs().map((n) => {
        try {
          return Number(
            execFileSync('git', ['-C', join(dir, 'git', `${n}.git`), 'rev-list', '--count', 'HEAD'], {
              stdio: ['ignore', 'pipe', 'ignore'],
            })
              .toString()
              .trim(),
          );
        } catch {
          return 0;
        }
      }),
    mailCount: () =>
      epochs()
        .map(
          (n) =>
            execFileSync('git', ['-C', join(dir, 'git', `${n}.git`), 'log', '--format=%s'], {
              stdio: ['ignore', 'pipe', 'ignore'],
            })
              .toString()
              .split('\n')
              .filter((l) => l && !l.startsWith('purged ')).length,
        )
        .reduce((a, b) => a + b, 0),
    stop: async () => {
      if (httpd.exitCode === null && httpd.signalCode === null) {
        const exited = new Promise((r) => httpd.once('exit', r));
        httpd.kill('SIGTERM');
        const t = setTimeout(() => httpd.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      if (!process.env.LISTCI_TEST_KEEP) rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A small patch series as git send-email would post it: a cover letter and `n` patches. */
export function seriesMails(opts: {
  tag: string;
  n: number;
  to: string;
  from?: string;
  date?: Date;
}): Buffer[] {
  const from = opts.from ?? 'Dev Eloper <dev@example.org>';
  const date = (opts.date ?? new Date()).toUTCString().replace('GMT', '+0000');
  const cover = `cover.${opts.tag}@example.org`;
  const head = (subject: string, id: string, reply: boolean) =>
    [
      `From: ${from}`,
      `To: ${opts.to}`,
      `Subject: ${subject}`,
      `Date: ${date}`,
      `Message-ID: <${id}>`,
      ...(reply ? [`In-Reply-To: <${cover}>`, `References: <${cover}>`] : []),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=UTF-8',
      '',
    ].join('\n');
  const mails = [`${head(`[PATCH 0/${opts.n}] ${opts.tag}`, cover, false)}\nThe series ${opts.tag}.\n`];
  for (let i = 1; i <= opts.n; i++) {
    const file = `${opts.tag}-${i}.txt`;
    mails.push(
      `${head(`[PATCH ${i}/${opts.n}] ${opts.tag}: part ${i}`, `${i}.${opts.tag}@example.org`, true)}\n` +
        `Part ${i}.\n\nSigned-off-by: ${from}\n---\n` +
        `diff --git a/${file} b/${file}\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/${file}\n@@ -0,0 +1 @@\n+${i}\n-- \n2.39.2\n`,
    );
  }
  return mails.map((m) => Buffer.from(m));
}
