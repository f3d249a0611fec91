import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chownSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { freePort } from './ports.ts';

const run = promisify(execFile);

/** A real Dovecot on a loopback port, one per test file, with its own temp dir and users file. */
export interface Dovecot {
  host: string;
  port: number;
  user: string;
  password: string;
  dir: string;
  append(raw: Buffer | string, mailbox?: string): Promise<void>; // real IMAP APPEND (imapflow)
  kick(): Promise<void>; // server-side disconnect of all sessions (doveadm kick)
  restart(): Promise<void>; // stop and start the same instance, same port, mail kept
  stop(): Promise<void>; // stop and remove the temp dir
}

const USER = 'listci';
const PASSWORD = 'listci-test-password';

/**
 * Starts Dovecot with the config of /work/shared/notes/dovecot.conf, adapted in two ways:
 * the port is a free one chosen here, and the internal and mail users are the ones this
 * process can actually use. As root, Dovecot refuses uid 0 for mail (first_valid_uid) and
 * its login processes drop to `nobody`, so the temp dir is opened to `nobody` and the home
 * is owned by it; as an ordinary user, Dovecot can not switch users at all, so every user
 * in the config becomes that user.
 */
export async function startDovecot(opts: { mailboxes?: string[] } = {}): Promise<Dovecot> {
  await requireDovecot();
  const dir = mkdtempSync(join(tmpdir(), 'listci-dovecot-'));
  const host = '127.0.0.1';
  let proc: ChildProcess | null = null;
  const log: string[] = [];
  try {
    const port = await freePort();
    const instance = `listci-dovecot-${basename(dir).replace(/^listci-dovecot-/, '')}`;
    const conf = writeConfig(dir, port, instance);
    const start = async (): Promise<void> => {
      proc = spawn('dovecot', ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (b: Buffer): void => {
        log.push(...b.toString().split('\n').filter(Boolean));
        log.splice(0, Math.max(0, log.length - 50));
      };
      proc.stdout!.on('data', keep);
      proc.stderr!.on('data', keep);
      await waitForLogin(host, port, proc, log);
    };
    const halt = async (): Promise<void> => {
      const p = proc;
      proc = null;
      if (p && p.exitCode === null && p.signalCode === null) {
        const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
        p.kill('SIGTERM');
        const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      // The master exits without its imap processes: a client stays connected to an orphan
      // across a "restart", which is not what a restart means. End them (and the orphaned
      // log and stats processes), found by this instance's unique process title.
      await killProcesses(instanceProcesses(instance));
    };
    await start();
    const creds = { host, port, user: USER, password: PASSWORD };
    if (opts.mailboxes?.length) {
      await withClient(creds, async (c) => {
        for (const m of opts.mailboxes!) await c.mailboxCreate(m);
      });
    }
    let stopped = false;
    return {
      ...creds,
      dir,
      append: async (raw, mailbox = 'INBOX') => {
        await withClient(creds, async (c) => {
          const res = await c.append(mailbox, typeof raw === 'string' ? Buffer.from(raw) : raw);
          if (!res) throw new Error(`Dovecot refused to APPEND to ${mailbox}`);
        });
      },
      kick: async () => {
        // Exit 68 with "no users kicked" just means nobody was connected.
        await run('doveadm', ['-c', conf, 'kick', USER]).catch((e: { code?: unknown; stdout?: string }) => {
          if (!(e.code === 68 && e.stdout?.includes('no users kicked'))) throw e;
        });
      },
      restart: async () => {
        await halt();
        await start();
      },
      stop: async () => {
        if (stopped) return;
        stopped = true;
        try {
          await halt();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    // halt() is not reachable from here if start() threw; the process may still be running.
    const p = proc as ChildProcess | null;
    if (p && p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function requireDovecot(): Promise<void> {
  try {
    await run('dovecot', ['--version']);
    await run('doveadm', ['-c', '/dev/null', 'help']).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw e;
    });
  } catch {
    throw new Error(
      'dovecot is not installed: the IMAP tests need a real server (apt-get install dovecot-imapd)',
    );
  }
}

function writeConfig(dir: string, port: number, instance: string): string {
  const root = process.getuid?.() === 0;
  const me = userInfo();
  const internalUser = root ? 'nobody' : me.username;
  const internalGroup = root ? 'nogroup' : groupName(me.gid);
  const home = join(dir, 'home', USER);
  mkdirSync(home, { recursive: true });
  if (root) {
    // mkdtemp makes a 0700 dir: nobody must be able to walk into it to reach its home.
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'home'), 0o755);
    chownSync(home, 65534, 65534);
  }
  writeFileSync(join(dir, 'users'), `${USER}:{PLAIN}${PASSWORD}\n`, { mode: 0o644 });
  const conf = `# Written by test/helpers/dovecot.ts from /work/shared/notes/dovecot.conf.
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = ${instance}
log_path = /dev/stderr
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login

default_internal_user = ${internalUser}
default_internal_group = ${internalGroup}
default_login_user = ${internalUser}

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=${internalUser} gid=${internalGroup} home=${dir}/home/%u
}
mail_location = maildir:~/Maildir
# Tests need no durability; fsync per APPEND made bulk appends ~20 ms each on this disk.
mail_fsync = never

service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`;
  const path = join(dir, 'dovecot.conf');
  writeFileSync(path, conf);
  return path;
}

/** Processes whose title Dovecot set to "<instance>/<service>", i.e. children of this instance only. */
function instanceProcesses(instance: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1');
      if (cmd.includes(`${instance}/`)) pids.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

async function killProcesses(pids: number[]): Promise<void> {
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signal = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 300;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL');
}

function groupName(gid: number): string {
  // os.userInfo() has no group name, and the config wants one.
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[2] === String(gid));
  return line ? line.split(':')[0]! : String(gid);
}

interface Creds {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** A logged-in IMAP session of the test user for `fn`, logged out afterwards. */
export async function withClient<T>(creds: Creds, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = new ImapFlow({
    host: creds.host,
    port: creds.port,
    secure: false,
    auth: { user: creds.user, pass: creds.password },
    logger: false,
    disableAutoIdle: true,
  });
  c.on('error', () => {}); // a failed connect() rejects; the event would only crash the test
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.logout().catch(() => c.close());
  }
}

/** Every mail in a mailbox, raw, in UID order. */
export function mailboxContents(creds: Creds, mailbox = 'INBOX'): Promise<Buffer[]> {
  return withClient(creds, async (c) => {
    await c.mailboxOpen(mailbox);
    const out: Buffer[] = [];
    for await (const m of c.fetch('1:*', { source: true })) if (m.source) out.push(m.source);
    return out;
  });
}

/** Ready means a real LOGIN succeeds, not just that the port is open: auth starts after imap-login. */
async function waitForLogin(host: string, port: number, proc: ChildProcess, log: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(
        `dovecot exited (${proc.exitCode ?? proc.signalCode}) before accepting logins:\n${log.join('\n')}`,
      );
    try {
      await withClient({ host, port, user: USER, password: PASSWORD }, async () => {});
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(
          `dovecot on ${host}:${port} did not accept a login within 15 s: ${String(err)}\n${log.join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
