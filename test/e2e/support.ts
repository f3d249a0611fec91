import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { CheckResult } from '../../src/contract.ts';
import { mailboxContents as inboxOf, type Dovecot } from '../helpers/dovecot.ts';

// What the real end-to-end runs on Xen share: where Xen and the engine are, a daemon child
// process, git send-email into the test SMTP server, reading the list mailbox back.

export const CACHE = process.env.LISTCI_CACHE ?? '/var/cache/listci';
/**
 * Today's Xen (scripts/get-xen.sh master): 4.23-unstable from the shared tarball or upstream git.
 * Every real Xen test builds this one tree, so they share each cold baseline.
 */
export const XEN_MASTER_REPO = join(CACHE, 'xen-master.git');
export const SOCKET = process.env.LISTCI_PODMAN_SOCKET ?? '/run/podman/podman.sock';
export const LIST = 'xen-devel@lists.xenproject.org';
const execFileAsync = promisify(execFile);

/**
 * The toolchains of every real Xen test, spelled the same everywhere: the baseline snapshots
 * are keyed by the configuration, so the tests of one suite run share each cold baseline.
 */
export const XEN_TOOLCHAINS = [
  { name: 'gcc-12', image: 'localhost/listci/gcc-12', cc: 'gcc-12' },
  { name: 'clang-14', image: 'localhost/listci/clang-14', cc: 'clang-14', makeArgs: ['clang=y'] },
];
const BIN = new URL('../../bin/listci.js', import.meta.url).pathname;

/** Why the real Xen run cannot happen here (null: it can). CI sets everything up in scripts/test.sh. */
export function missingPrerequisites(images: string[], repo = XEN_MASTER_REPO): string | null {
  if (!existsSync(join(repo, '.git'))) return `no Xen tree at ${repo}: run scripts/get-xen.sh master`;
  try {
    execFileSync('curl', ['-sf', '--unix-socket', SOCKET, 'http://d/_ping'], {
      stdio: 'ignore',
      timeout: 5000,
    });
  } catch {
    return `no podman service answers at ${SOCKET}: run scripts/start-podman-service.sh`;
  }
  for (const image of images) {
    try {
      execFileSync('podman', ['image', 'exists', image], { stdio: 'ignore' });
    } catch {
      return `no image ${image}: run scripts/build-images.sh`;
    }
  }
  const gitExec = execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim();
  if (!existsSync(join(gitExec, 'git-send-email')))
    return 'git send-email is missing: apt-get install git-email';
  return null;
}

/**
 * The work dir (mirror, worktrees, build dirs, baseline cache). Builds run as uid 1000; with
 * rootful Podman a 0700 parent does not stop them (the bind mount is the worktree itself, made
 * by root with umask 022, and the build dir is chowned), but a rootless engine needs the path
 * traversable, so it is opened like a production /var/lib/listci. LISTCI_E2E_WORKDIR keeps it
 * between runs: the baseline cache then makes a second run incremental.
 */
export function workDirFor(prefix: string): { dir: string; keep: boolean } {
  const kept = process.env.LISTCI_E2E_WORKDIR;
  const dir = kept ?? mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  return { dir, keep: !!kept };
}

const CONTRIBUTOR = {
  GIT_AUTHOR_NAME: 'Test Contributor',
  GIT_AUTHOR_EMAIL: 'test@example.org',
  GIT_COMMITTER_NAME: 'Test Contributor',
  GIT_COMMITTER_EMAIL: 'test@example.org',
};

/**
 * A contributor's one-commit series on `repo`: a clone in scratch/xen, `edit` changes its
 * files, and the commit comes back as the mbox `git format-patch --thread --base` writes.
 */
export function contributorSeries(
  repo: string,
  scratch: string,
  subject: string,
  edit: (clone: string) => void,
) {
  const clone = join(scratch, 'xen');
  execFileSync('git', ['clone', '-q', repo, clone]);
  edit(clone);
  const git = (args: string[]) =>
    execFileSync('git', args, { cwd: clone, encoding: 'utf8', env: { ...process.env, ...CONTRIBUTOR } });
  git(['add', '-A']);
  git(['commit', '-q', '-m', subject]);
  const mbox = join(scratch, 'series.mbox');
  writeFileSync(mbox, git(['format-patch', '--stdout', '--thread', '--base=HEAD~1', 'HEAD~1']));
  return { clone, mbox };
}

/** The config of a `listci check` on real Xen in Podman, in the suite's shared work dir. */
export function checkConfig(scratch: string, workDir: string, repo: string, toolchains: object[]): string {
  const path = join(scratch, 'listci.yaml');
  writeFileSync(
    path,
    stringify({
      workDir,
      database: join(scratch, 'listci.db'),
      // One mirror per tree, each with its own worktree pool, in the one work dir.
      repo: {
        url: repo,
        mirror: join(workDir, `mirror-${basename(repo)}`),
        defaultBranch: 'main',
        worktrees: 1,
      },
      build: { runner: 'podman', socket: SOCKET, makeJobs: 2, timeoutMinutes: 15, toolchains },
    }),
  );
  return path;
}

/** `listci check -c CONFIG ARGS --json` as a contributor runs it; exit 0 or 1 is a judged series. */
export async function listciCheck(
  configPath: string,
  args: string[],
): Promise<{ code: number; result: CheckResult }> {
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      [BIN, 'check', '-c', configPath, ...args, '--json'],
      {
        maxBuffer: 64 << 20,
      },
    );
    return { code: 0, result: JSON.parse(stdout) as CheckResult };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (err.code !== 1) throw new Error(`listci check exited ${err.code}: ${err.stderr?.slice(-3000)}`);
    return { code: 1, result: JSON.parse(err.stdout!) as CheckResult };
  }
}

export interface DaemonChild {
  proc: ChildProcess;
  /** The web page / JSON API base URL the daemon printed. */
  url: string;
  logPath: string;
  /** The last lines of its output, for a failure message. */
  tail(lines?: number): string;
  stop(): Promise<void>;
}

/** `listci daemon -c CONFIG` as its own process, output to a log file; resolves once the API listens. */
export async function startDaemon(configPath: string, env: Record<string, string>, logPath: string) {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('LISTCI_')) clean[k] = v;
  const proc = spawn(process.execPath, [BIN, 'daemon', '-c', configPath], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(logPath);
  proc.stdout.pipe(out, { end: false });
  proc.stderr.pipe(out, { end: false });
  const tail = (n = 40) => {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  };
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${tail()}`)), 30_000);
    proc.stdout.on('data', (b: Buffer) => {
      seen += b.toString();
      const m = /JSON API: (http:\/\/\S+?)\/?\s/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening:\n${tail()}`));
    });
  });
  const child: DaemonChild = {
    proc,
    url,
    logPath,
    tail,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
      out.end();
    },
  };
  return child;
}

function identity(from: string, home: string): NodeJS.ProcessEnv {
  const [, name = '', email = ''] = /^(.*?)\s*<([^>]+)>$/.exec(from) ?? [];
  mkdirSync(home, { recursive: true });
  // The sender's own identity, as in their ~/.gitconfig; nothing of this machine's leaks in.
  return {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: email,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: email,
  };
}

/** A contributor's clone of today's Xen with `patch` applied by `git am` on top of main: what they post from. */
export async function contributorClone(opts: {
  patch: string;
  from: string;
  scratch: string;
}): Promise<string> {
  const dir = join(opts.scratch, 'contributor');
  const env = identity(opts.from, join(opts.scratch, 'home'));
  await execFileAsync('git', ['clone', '-q', '--shared', XEN_MASTER_REPO, dir], { env });
  await execFileAsync('git', ['-C', dir, 'am', '-q', opts.patch], { env });
  return dir;
}

/**
 * Posts to the list the way a contributor does: `git send-email` through the test SMTP server,
 * either patch files or format-patch arguments (`-1 HEAD`) run in `repo`.
 */
export async function sendEmail(opts: {
  args: string[];
  from: string;
  smtp: { host: string; port: number };
  scratch: string;
  repo?: string;
}): Promise<string> {
  let repo = opts.repo;
  if (!repo) {
    repo = join(opts.scratch, 'sender');
    if (!existsSync(join(repo, '.git'))) execFileSync('git', ['init', '-q', repo]);
  }
  // Asynchronous: the SMTP server it talks to runs in this very process.
  const { stdout } = await execFileAsync(
    'git',
    [
      'send-email',
      '--confirm=never',
      '--suppress-cc=all',
      '--no-chain-reply-to',
      `--from=${opts.from}`,
      `--to=${LIST}`,
      `--smtp-server=${opts.smtp.host}`,
      `--smtp-server-port=${opts.smtp.port}`,
      ...opts.args,
    ],
    { cwd: repo, env: identity(opts.from, join(opts.scratch, 'home')), encoding: 'utf8', timeout: 60_000 },
  );
  return stdout;
}

/** Every mail in the list's mailbox, raw. */
export const mailboxContents = (d: Dovecot): Promise<Buffer[]> => inboxOf(d);

/** Polls until `ready` returns a value (not undefined/null/false), or throws naming `what`. */
export async function waitFor<T>(
  what: string,
  ready: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs: number,
  onTimeout?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await ready();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${onTimeout?.() ?? ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const IMAP_PASSWORD_ENV = 'LISTCI_E2E_IMAP_PASSWORD';

/**
 * The daemon as xen-devel would run it, on this machine's list: watching the Dovecot mailbox
 * over IMAP, replying (always) through the test SMTP server, building Xen in Podman. The
 * config is written to `scratch`; `extra` adds or overrides top-level sections.
 */
export async function startXenDaemon(o: {
  dovecot: Dovecot;
  smtp: { host: string; port: number };
  scratch: string;
  workDir: string;
  toolchains: object[];
  extra?: Record<string, unknown>;
}): Promise<DaemonChild & { dbPath: string }> {
  const dbPath = join(o.scratch, 'listci.db');
  const config = {
    list: { name: 'xen-devel', addresses: [LIST] },
    workDir: o.workDir,
    database: dbPath,
    mail: {
      source: {
        type: 'imap',
        host: o.dovecot.host,
        port: o.dovecot.port,
        secure: false,
        user: o.dovecot.user,
        password: { env: IMAP_PASSWORD_ENV },
        mailbox: 'INBOX',
        recheckSeconds: 5,
      },
    },
    // The mirror (and so the worktree pool) `checkConfig` gives the same tree: a worktree slot
    // fresh from `git worktree add` has every file newer than the shared snapshot, and make then
    // rebuilds everything.
    repo: {
      url: XEN_MASTER_REPO,
      mirror: join(o.workDir, `mirror-${basename(XEN_MASTER_REPO)}`),
      defaultBranch: 'main',
      worktrees: 1,
    },
    build: {
      runner: 'podman',
      socket: SOCKET,
      parallel: 1,
      makeJobs: 2,
      timeoutMinutes: 15,
      toolchains: o.toolchains,
    },
    reply: {
      policy: 'always',
      dryRun: false,
      outbox: join(o.scratch, 'outbox'),
      from: 'listci <listci@ci.example.org>',
      ccList: true,
      webUrl: 'https://ci.example.org/listci',
      smtp: { host: o.smtp.host, port: o.smtp.port, secure: false },
    },
    web: { host: '127.0.0.1', port: 0 },
    ...o.extra,
  };
  const configPath = join(o.scratch, 'xen-devel.yaml');
  writeFileSync(configPath, stringify(config));
  const daemon = await startDaemon(
    configPath,
    { [IMAP_PASSWORD_ENV]: o.dovecot.password },
    join(o.scratch, 'daemon.log'),
  );
  return { ...daemon, dbPath };
}
