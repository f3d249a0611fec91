// What test/queue/scale-out.test.ts runs: `listci worker` child processes next to the daemon
// fault harness's `listci daemon` (test/daemon/harness.ts), each worker with its own work dir
// and its own compilers behind a wrapper whose link step can sleep (so a test knows which
// worker is mid-build when it kills one), one-patch series made from the demo's good patch,
// and what a user reads back: the replies, the daemon's log, `listci query workers`.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  childEnv,
  DEMO_MAILS,
  header,
  trackChild,
  waitFor,
  type Case,
  type World,
} from '../daemon/harness.ts';
import type { ReceivedMail } from '../helpers/smtp.ts';
import { describeWorkersText, listWorkerViews } from '../../src/query/workers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/listci.js');
const run = promisify(execFile);

/** The environment of a listci child: this one's, without the test runner's LISTCI_ settings. */
/** A compiler as one worker's host has it: the real one, with a link step that can be made slow. */
export interface SlowCompiler {
  path: string;
  /** Seconds each link of xen-syms sleeps from now on (0: none). */
  setLinkSleep(seconds: number): void;
  /** A link is sleeping: a build is in progress on this worker. */
  linking(): boolean;
}

export function slowCompiler(dir: string, name: string, compiler: string): SlowCompiler {
  const base = join(dir, name);
  const sleepFile = `${base}.link-sleep`;
  const markerDir = `${base}.linking`;
  mkdirSync(markerDir, { recursive: true });
  writeFileSync(
    base,
    `#!/bin/sh
# ${compiler}, but the final link of xen-syms first sleeps for as many seconds as ${sleepFile}
# says, with a marker file present meanwhile (the harness's slow-gcc, one per worker).
case " $* " in
  *xen-syms*)
    s=$(cat '${sleepFile}' 2>/dev/null || echo 0)
    if [ "$s" != 0 ]; then
      touch '${markerDir}/'$$
      sleep "$s"
      rm -f '${markerDir}/'$$
    fi ;;
esac
exec ${compiler} "$@"
`,
  );
  chmodSync(base, 0o755);
  return {
    path: base,
    setLinkSleep: (s) => writeFileSync(sleepFile, String(s)),
    linking: () => readdirSync(markerDir).length > 0,
  };
}

/**
 * The daemon's config with a build queue: the harness writes it as JSON, this adds `queue`
 * (and replaces build.toolchains: the daemon's flags for each, the compiler is each worker's).
 */
export function queueDaemonConfig(
  c: Case,
  queue: Record<string, unknown>,
  toolchains: Record<string, unknown>[],
): void {
  const config = JSON.parse(readFileSync(c.config, 'utf8')) as {
    build: Record<string, unknown>;
    [k: string]: unknown;
  };
  config.queue = queue;
  config.build.toolchains = toolchains;
  writeFileSync(c.config, JSON.stringify(config, null, 2));
}

export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** The lines it printed at start: `listci worker NAME: building …` and the `  not …` lines. */
  banner(): string[];
  /** Everything it printed so far (the banner, then pino JSON lines). */
  output(): string;
  /** Its log lines with msg `msg`, parsed. */
  logged(msg: string): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, as a build host that crashed or lost power. */
  kill9(): Promise<void>;
  /** SIGTERM, and how it ended. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `listci worker -c worker.yaml` in `dir` (its config and work dir go there); resolves once
 * it said what it builds.
 */
export async function startWorker(
  dir: string,
  config: { name: string; [k: string]: unknown },
): Promise<WorkerProcess> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${config.name}.yaml`);
  writeFileSync(file, JSON.stringify({ workDir: join(dir, 'work'), ...config }, null, 2)); // JSON is YAML
  const child = spawn(process.execPath, [BIN, 'worker', '-c', file], {
    cwd: dir,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  // Kept for a failing test's post-mortem (LISTCI_TEST_KEEP=1 keeps the dir).
  void exited.then(() => writeFileSync(join(dir, `${config.name}-${child.pid}.log`), out));
  const ready = new RegExp(`^listci worker ${config.name}: building .*$`, 'm');
  await waitFor(
    () => ready.test(out) || child.exitCode !== null,
    `worker ${config.name} ready`,
    60_000,
    () => out,
  );
  if (!ready.test(out)) throw new Error(`worker ${config.name} exited at start:\n${out}`);
  const lines = () => out.split('\n');
  return {
    name: config.name,
    child,
    banner: () => lines().filter((l) => !l.startsWith('{') && l.trim() !== ''),
    output: () => out,
    logged: (msg) => jsonLines(out).filter((l) => l.msg === msg),
    exited,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async (timeoutMs = 15_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
  };
}

export function jsonLines(out: string): Record<string, unknown>[] {
  return out.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** The daemon's "build job done" lines: which worker built which series under which toolchain. */
export function buildsDone(
  daemonOutput: string,
): { run: number; series: string; toolchain: string; worker: string }[] {
  return jsonLines(daemonOutput)
    .filter((l) => l.msg === 'build job done')
    .map((l) => ({
      run: l.run as number,
      series: l.series as string,
      toolchain: l.toolchain as string,
      worker: l.worker as string,
    }));
}

export interface WorkerFigures {
  name: string;
  state: string;
  toolchains: string[];
  missing: Record<string, string>;
  jobsDone: number;
  jobsFailed: number;
}

/**
 * `listci query workers --json` as an operator runs it (and the table too with `table`), in a
 * child process, not synchronously: the SMTP server the daemon replies through runs in this one.
 */
export async function queryWorkers(
  dbPath: string,
  opts: { table?: boolean } = {},
): Promise<{ workers: WorkerFigures[]; text: string }> {
  const ask = (json: boolean) =>
    run(process.execPath, [BIN, 'query', 'workers', '--db', dbPath, ...(json ? ['--json'] : [])], {
      env: childEnv(),
    });
  const [json, table] = await Promise.all([ask(true), opts.table ? ask(false) : null]);
  return {
    workers: (JSON.parse(json.stdout) as { workers: WorkerFigures[] }).workers,
    text: table?.stdout ?? json.stdout,
  };
}

/** One series as the list carries it. */
export interface PostedSeries {
  /** Message-ID of its head (the patch: a lone patch has no cover letter). */
  head: string;
  title: string;
  mails: Buffer[];
}

const [ALICE] = DEMO_MAILS;

/**
 * A one-patch series from its own contributor, made from Alice's demo patch: another banner
 * line (another diff, so no result is reused), another author and title (another series).
 * It builds clean.
 */
export function goodSeries(tag: string, n: number): PostedSeries {
  const who = `${tag}-${n}`;
  const title = `xen/console: say which console is in use (${who})`;
  const head = `scale-${who}@example.org`;
  const text = ALICE!
    .toString('utf8')
    .replace(/^Message-ID: <[^>]+>/m, `Message-ID: <${head}>`)
    .replace(/^From: .*$/m, `From: Contributor ${who} <contributor-${who}@example.org>`)
    .replace(/^Subject: .*$/m, `Subject: [PATCH] ${title}`)
    .replace(/^Signed-off-by: .*$/m, `Signed-off-by: Contributor ${who} <contributor-${who}@example.org>`)
    .replace('demo hypervisor, v2 console', `demo hypervisor, console of ${who}`);
  return { head, title, mails: [Buffer.from(text, 'utf8')] };
}

export function goodSeriesBatch(tag: string, count: number): PostedSeries[] {
  return Array.from({ length: count }, (_, i) => goodSeries(tag, i + 1));
}

/** The replies that reached the SMTP server, by the Message-ID they answer. */
export function repliesByThread(received: ReceivedMail[]): Map<string, ReceivedMail[]> {
  const threads = new Map<string, ReceivedMail[]>();
  for (const m of received) {
    const to = (header(m, 'In-Reply-To') ?? '').replace(/^<|>$/g, '');
    threads.set(to, [...(threads.get(to) ?? []), m]);
  }
  return threads;
}

/** Every series has at least one reply at the SMTP server (exactly one is for the test to assert). */
export async function waitForRepliesTo(
  world: World,
  heads: string[],
  timeoutMs: number,
  context: () => string,
): Promise<void> {
  await waitFor(
    () => {
      const threads = repliesByThread(world.smtp.received);
      return heads.every((h) => threads.has(h));
    },
    `replies to ${heads.length} series`,
    timeoutMs,
    () => {
      const threads = repliesByThread(world.smtp.received);
      return `no reply yet to: ${heads.filter((h) => !threads.has(h)).join(', ')}\n${context()}`;
    },
  );
}

/**
 * Waits until the workers the daemon recorded satisfy `ok`: read as `listci query workers` reads
 * them, but in this process (a CLI start per poll is seconds of CPU on a small machine). The
 * test then asserts on the CLI's own output.
 */
export async function workersUntil(
  c: Case,
  ok: (workers: WorkerFigures[]) => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    () => ok(listWorkerViews(c.db()).workers),
    what,
    timeoutMs,
    () => describeWorkersText(listWorkerViews(c.db())),
  );
}
