// The world a daemon fault test runs in: a real Dovecot (the list's mailbox), a real SMTP
// server that relays every reply into that mailbox (as a list would), the bundled demo
// tree as the upstream repository, and `listci daemon` as a child process, killed and
// restarted the way an operator's machine would do it.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Database } from '../../src/db/open.ts';
import { startDovecot, withClient, type Dovecot } from '../helpers/dovecot.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../helpers/smtp.ts';
import { tempDir } from '../helpers/cli.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/listci.js');
const DEMO_INBOX = join(ROOT, 'demo/inbox');

/** The demo's two series, as their authors posted them. */
export const GOOD_HEAD = 'demo-01@example.org'; // Alice: one patch, builds clean
export const BAD_HEAD = 'cover.1795791283.git.bob@example.org'; // Bob: 0/2 + 2 patches, util.c#parse_one twice
export const DEMO_MAILS = readdirSync(DEMO_INBOX)
  .filter((f) => f.endsWith('.eml'))
  .sort()
  .map((f) => readFileSync(join(DEMO_INBOX, f)));

export interface World {
  dovecot: Dovecot;
  smtp: TestSmtp;
  /** The upstream repository (the demo tree, same commit id as the demo mails' base-commit). */
  repo: string;
  /** Mailbox the SMTP server relays into: the current test's list. */
  relayTo: { mailbox: string };
  stop(): Promise<void>;
}

export async function startWorld(mailboxes: string[]): Promise<World> {
  const dir = tempDir('listci-daemon-world-');
  const repo = join(dir, 'upstream');
  execFileSync('bash', [join(ROOT, 'demo/make-repo.sh'), repo], { stdio: 'ignore' });
  const dovecot = await startDovecot({ mailboxes });
  const relayTo = { mailbox: 'INBOX' };
  const smtp = await startSmtp({ relay: (m) => dovecot.append(m.raw, relayTo.mailbox) });
  return {
    dovecot,
    smtp,
    repo,
    relayTo,
    stop: async () => {
      await smtp.stop();
      await dovecot.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Case {
  dir: string;
  config: string;
  dbPath: string;
  workDir: string;
  mailbox: string;
  /** Seconds the link step sleeps (0: no sleep); read by the compiler wrapper at each link. */
  setLinkSleep(seconds: number): void;
  /** Set while a link is in progress (the wrapper's marker): the moment to kill the daemon. */
  linking(): boolean;
  /** While set, the link step SIGKILLs this process (the daemon) and fails: a check that crashes listci. */
  crashAtLink(pid: number | null): void;
  append(mails?: Buffer[]): Promise<void>;
  db(): Database;
  cleanup(): void;
}

/**
 * One test's daemon config: IMAP from its own mailbox, real SMTP, local gcc builds of the
 * demo tree through a wrapper that can make the link step slow (the demo builds in a
 * fraction of a second; a fault has to land in the middle of a build).
 */
export function newCase(
  world: World,
  mailbox: string,
  opts: {
    workDir?: string;
    reply?: Record<string, unknown>;
    series?: Record<string, unknown>;
    build?: Record<string, unknown>;
  } = {},
): Case {
  const dir = tempDir(`listci-daemon-${mailbox}-`);
  const workDir = opts.workDir ?? join(dir, 'work');
  const dbPath = join(dir, 'listci.db');
  const sleepFile = join(dir, 'link-sleep');
  const markerDir = join(dir, 'linking');
  const crashFile = join(dir, 'crash-at-link');
  mkdirSync(markerDir);
  const cc = join(dir, 'slow-gcc');
  writeFileSync(
    cc,
    `#!/bin/sh
# gcc, but the final link of xen-syms first sleeps for as many seconds as ${sleepFile} says,
# with a marker file present meanwhile, so a test knows a build is in progress; or, while
# ${crashFile} names a pid, kills that process (the daemon) instead.
case " $* " in
  *xen-syms*)
    if [ -f '${crashFile}' ]; then
      kill -9 "$(cat '${crashFile}')"
      exit 1
    fi
    s=$(cat '${sleepFile}' 2>/dev/null || echo 0)
    if [ "$s" != 0 ]; then
      touch '${markerDir}/'$$
      sleep "$s"
      rm -f '${markerDir}/'$$
    fi ;;
esac
exec gcc "$@"
`,
  );
  chmodSync(cc, 0o755);
  writeFileSync(join(dir, 'imap-password'), world.dovecot.password);
  const config = {
    list: { name: 'demo-devel', addresses: ['demo-devel@lists.example.org'] },
    workDir,
    database: dbPath,
    mail: {
      source: {
        type: 'imap',
        host: world.dovecot.host,
        port: world.dovecot.port,
        secure: false,
        user: world.dovecot.user,
        password: { file: join(dir, 'imap-password') },
        mailbox,
        recheckSeconds: 2,
      },
    },
    series: { incompleteWaitMinutes: 0.05, ...opts.series },
    repo: { url: world.repo, mirror: join(dir, 'mirror.git'), defaultBranch: 'main', worktrees: 1 },
    build: {
      runner: 'local',
      makeJobs: 1,
      timeoutMinutes: 2,
      toolchains: [{ name: 'gcc', cc }],
      ...opts.build,
    },
    reply: {
      policy: 'always',
      dryRun: false,
      from: 'listci <listci@ci.example.org>',
      outbox: join(dir, 'outbox'),
      smtp: { host: world.smtp.host, port: world.smtp.port, secure: false },
      retryBaseSeconds: 1,
      ...opts.reply,
    },
    web: { enabled: false },
    logLevel: 'info',
  };
  const configPath = join(dir, 'listci.yaml');
  writeFileSync(configPath, JSON.stringify(config, null, 2)); // JSON is YAML
  let db: Database | null = null;
  return {
    dir,
    config: configPath,
    dbPath,
    workDir,
    mailbox,
    setLinkSleep: (s) => writeFileSync(sleepFile, String(s)),
    linking: () => readdirSync(markerDir).length > 0,
    crashAtLink: (pid) =>
      pid === null ? rmSync(crashFile, { force: true }) : writeFileSync(crashFile, String(pid)),
    append: async (mails = DEMO_MAILS) => {
      for (const m of mails) await world.dovecot.append(m, mailbox);
    },
    db: () => {
      if (!db) {
        // The daemon creates and migrates it at start: until then there is nothing to read.
        if (!existsSync(dbPath)) throw new Error(`${dbPath}: the daemon has not created it yet`);
        db = openDb(dbPath, { readonly: true });
      }
      return db;
    },
    cleanup: () => {
      db?.close();
      // LISTCI_TEST_KEEP=1 keeps the case's dir (config, database, daemon logs) for a post-mortem.
      if (process.env.LISTCI_TEST_KEEP) return;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface DaemonProcess {
  child: ChildProcess;
  /** Everything it logged so far, one pino JSON object per line. */
  output(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with how it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();

/** A listci child of a test (daemon, worker): killed by killLeftoverDaemons if the test fails. */
export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** A failed test must not leave its daemon or workers running (they would hold the test process open). */
export async function killLeftoverDaemons(): Promise<void> {
  for (const child of live) {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  }
  live.clear();
}

/** The test's environment without LISTCI_* (a developer's settings must not leak into the child). */
export function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('LISTCI_')) env[k] = v;
  return env;
}

export function startDaemon(c: Case): DaemonProcess {
  const child = spawn(process.execPath, [BIN, 'daemon', '-c', c.config], {
    cwd: c.dir,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let out = '';
  const onData = (b: Buffer) => {
    out += b.toString();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  // Kept for a failing test's post-mortem.
  void exited.then(() => writeFileSync(join(c.dir, `daemon-${child.pid}.log`), out));
  return {
    child,
    output: () => out,
    waitForLog: (pattern, timeoutMs = 30_000) =>
      waitFor(
        () => pattern.test(out),
        `daemon log line ${pattern}`,
        timeoutMs,
        () => out,
      ),
    exited,
  };
}

/** SIGTERM, and the exit it leads to. */
export async function stopDaemon(d: DaemonProcess, timeoutMs = 10_000) {
  if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM');
  const timer = setTimeout(() => d.child.kill('SIGKILL'), timeoutMs);
  const how = await d.exited;
  clearTimeout(timer);
  return how;
}

export async function killDaemon(d: DaemonProcess): Promise<void> {
  d.child.kill('SIGKILL');
  await d.exited;
}

export async function waitFor(
  ready: () => boolean | undefined,
  what: string,
  timeoutMs = 30_000,
  context: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const safely = () => {
    try {
      return ready();
    } catch {
      return false; // e.g. the database is not there or not migrated yet
    }
  };
  while (!safely()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${context().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function header(mail: ReceivedMail, name: string): string | null {
  const end = mail.raw.indexOf('\r\n\r\n');
  const head = mail.raw
    .subarray(0, end < 0 ? mail.raw.length : end)
    .toString('utf8')
    .replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m ? m[1]!.trim() : null;
}

/** Every reply sent by the daemon has reached SMTP and the outbox says it is sent. */
export async function waitForReplies(world: World, c: Case, n = 2, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    () => {
      if (world.smtp.received.length < n) return false;
      if (!existsSync(c.dbPath)) return false;
      const r = c.db().prepare(`SELECT count(*) AS n FROM replies WHERE state = 'sent'`).get() as {
        n: number;
      };
      return r.n >= n;
    },
    `${n} replies sent`,
    timeoutMs,
    () => `received ${world.smtp.received.length} at SMTP`,
  );
}

/** How many copies of each Message-ID the list's mailbox holds. */
export function mailboxCopies(world: World, mailbox: string): Promise<Map<string, number>> {
  return withClient(world.dovecot, async (c) => {
    await c.mailboxOpen(mailbox);
    const out = new Map<string, number>();
    for await (const m of c.fetch('1:*', { envelope: true })) {
      const id = (m.envelope?.messageId ?? '').replace(/^<|>$/g, '');
      out.set(id, (out.get(id) ?? 0) + 1);
    }
    return out;
  });
}

/**
 * What a maintainer checks after any fault: each series got exactly one reply, in its
 * thread, with the right verdict; every posted mail is in the database once; no run or
 * reply was doubled.
 */
export function assertOneCorrectReplyPerSeries(
  world: World,
  c: Case,
  mailsAppended = DEMO_MAILS.length,
): void {
  const threads = new Map<string, ReceivedMail[]>();
  for (const m of world.smtp.received) {
    const to = (header(m, 'In-Reply-To') ?? '').replace(/^<|>$/g, '');
    threads.set(to, [...(threads.get(to) ?? []), m]);
  }
  assert.deepEqual(
    [...threads.keys()].sort(),
    [BAD_HEAD, GOOD_HEAD].sort(),
    'replies go to the two series, nowhere else',
  );
  for (const [head, mails] of threads)
    assert.equal(mails.length, 1, `series ${head}: ${mails.length} replies reached SMTP, want exactly 1`);
  const good = threads.get(GOOD_HEAD)![0]!;
  const bad = threads.get(BAD_HEAD)![0]!;
  assert.equal(header(good, 'X-Listci-Verdict'), 'pass', 'the good series passes');
  assert.equal(header(bad, 'X-Listci-Verdict'), 'fail', 'the bad series fails');
  assert.match(bad.raw.toString('utf8'), /util\.c#parse_one/, 'the failure names the duplicate symbol');
  const runIds = world.smtp.received.map((m) => header(m, 'X-Listci-Run'));
  assert.equal(new Set(runIds).size, runIds.length, 'one run per reply');

  const db = c.db();
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  assert.equal(
    count(`SELECT count(*) AS n FROM messages WHERE own = 0`),
    mailsAppended,
    'every posted mail is stored, once',
  );
  assert.equal(count(`SELECT count(*) AS n FROM messages WHERE kind IN ('unclassified', 'malformed')`), 0);
  assert.equal(count(`SELECT count(*) AS n FROM series_versions`), 2);
  const runs = db.prepare(`SELECT version_id, state, verdict FROM runs ORDER BY version_id`).all() as {
    version_id: number;
    state: string;
    verdict: string;
  }[];
  assert.equal(runs.length, 2, `one run per series version: ${JSON.stringify(runs)}`);
  assert.deepEqual(
    runs.map((r) => r.state),
    ['done', 'done'],
  );
  assert.deepEqual(runs.map((r) => r.verdict).sort(), ['fail', 'pass']);
  assert.equal(
    count(`SELECT count(*) AS n FROM replies WHERE state = 'sent'`),
    2,
    'both replies marked sent',
  );
  assert.equal(count(`SELECT count(*) AS n FROM replies`), 2);
  assert.equal(count(`SELECT count(*) AS n FROM runs WHERE reply_sent_at IS NULL`), 0);
  assert.equal(count(`SELECT count(*) AS n FROM jobs WHERE state != 'done'`), 0, 'no job left behind');
}
