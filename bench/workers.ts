// Throughput of the build queue (issue 17): series per minute with 1, 2 and 4 `listci worker`
// processes serving one `listci daemon` over BullMQ on a real redis-server (the test helper's,
// on a free loopback port), and the queue's own overhead per job.
//
// The load waits more than it computes, so that what scales is the orchestration and not the
// 2 CPUs: the bundled demo tree (demo/make-repo.sh) as upstream, built with the local runner
// through a compiler wrapper that sleeps `sleep` seconds before every compile and before the
// link: a job (one toolchain of a one-file series, on a baseline the worker has) waits 2 × sleep
// and computes about a second (git worktree and am, make, gcc, listci's checks), so with the
// default 2 s four workers want less than one of the two CPUs. Every daemon and worker is a
// child process, as in production:
//   node bin/listci.js daemon -c listci.yaml   (mail from a Maildir polled every 0.25 s,
//                                               queue.maxInFlight >= 8 and >= series, so the
//                                               daemon is not the limit; dry-run replies)
//   node bin/listci.js worker -c worker.yaml   (concurrency 1, ready on "listci worker NAME: building ...")
//
// One queued daemon serves every queued phase (each phase's runs are those after the last
// one's); the workers are started once and stopped as fewer are needed:
//   warm-up     one series per worker, with every worker idle (builds sleep 1 s, so none
//               takes two), until each has built its trusted baseline snapshot of the base:
//               a real deployment builds a base once per worker, then many series on it
//   throughput  for 4, 2, then 1 worker(s): `series` one-patch series (one new file each, a
//               different author each) written into the Maildir at once; timed from the
//               first write to the last run's finished_at in the daemon's database (read-only)
//   overhead    `overhead` one-patch series, one at a time (the next is posted when the last
//               is recorded), builds with sleep 0, through the queue with one worker, then
//               through an embedded daemon (no queue, its own database); the first of each is
//               untimed (the embedded daemon's baseline)
//
// What the overhead numbers include (all on one machine, one clock, milliseconds per job):
//   pickup   BullMQ job.timestamp (the daemon's Queue.add) → job.processedOn (a worker moved
//            it to active): Redis round trips and the idle worker's blocking wait waking up
//   return   job.finishedOn (the worker stored its return value) → runs.finished_at (the
//            daemon recorded the run): the daemon's poll of the job's state (every 500 ms,
//            so about 250 ms on average), fetching and parsing the result, writing its logs
//            into the run dir, merging, and recording the run with its (dry-run) reply.
//            Recording is a few ms the embedded daemon pays too.
//   queue    pickup + return: what the queue itself adds to a job
//   worker   job.processedOn → the worker's own build start (result.timings.startedAt) plus
//            its prepareMs (its own mirror, checked for the base commit): the worker's price
//            of having its own mirror, on top of the same apply+build+checks as embedded
//   check    runs.started_at → runs.finished_at, median, both ways: the daemon's whole check
//            (base choice, apply, build, checks, record); queued minus embedded is everything
//            the queue costs a check end to end (pickup, return, worker prepare, payload and
//            result through Redis, the worker's own worktree); the builds are equal (sleep 0)
// Mail intake (the Maildir poll) and the series' grouping are outside both check figures.
//
//   node --import tsx bench/workers.ts [series=16] [sleep=2] [overhead=8]
//   LISTCI_BENCH_WORKERS=1,2,4 (the worker counts), LISTCI_BENCH_KEEP=1 (keep the scratch dir,
//   with every daemon's and worker's log)
// Default run: about 3.5 minutes on an idle machine. Numbers only; nothing is asserted on time.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { openDb, type Database } from '../src/db/open.ts';
import { parseResult, queueName } from '../src/queue/job.ts';
import { freePort } from '../test/helpers/ports.ts';
import { startRedis, type TestRedis } from '../test/helpers/redis.ts';

const SERIES = Number(process.argv[2] ?? 16);
const SLEEP_S = Number(process.argv[3] ?? 2);
const OVERHEAD = Number(process.argv[4] ?? 8);
const COUNTS = [...new Set((process.env.LISTCI_BENCH_WORKERS ?? '1,2,4').split(',').map(Number))];
if (!(SERIES >= 1) || !(SLEEP_S >= 0) || !(OVERHEAD >= 2) || COUNTS.some((n) => !(n >= 1)))
  throw new Error('usage: bench/workers.ts [series>=1] [sleep>=0] [overhead>=2]');
const MAX_WORKERS = Math.max(...COUNTS);
const ROOT = new URL('../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/listci.js');
const LIST = 'bench-devel@lists.example.org';
const TOOLCHAIN = 'gcc';
const PREFIX = 'bench';
const PHASE_TIMEOUT_MS = 10 * 60_000;

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();
/** Podman or Xen tests running beside the bench: their load is in the numbers. */
const others = () => {
  try {
    return execFileSync('sh', ['-c', "ps -eo args | grep -E 'run-tests|podman run' | grep -v grep || true"], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return '';
  }
};
const loadStart = loadavg();
const began = Date.now();
const progress = (line: string) => console.error(`[${((Date.now() - began) / 1000).toFixed(0)} s] ${line}`);
console.log(`load at start: ${loadStart}`);
const busyStart = others();
if (busyStart) console.log(`also running at start:\n${busyStart}`);

const scratch = mkdtempSync(join(tmpdir(), 'listci-bench-workers-'));
const upstream = join(scratch, 'upstream');
const base = execFileSync('bash', [join(ROOT, 'demo/make-repo.sh'), upstream], { encoding: 'utf8' }).trim();

// The compiler: gcc, after sleeping as many seconds as the file says, at each compile and link.
const sleepFile = join(scratch, 'sleep');
const cc = join(scratch, 'sleepy-gcc');
writeFileSync(
  cc,
  `#!/bin/sh
s=$(cat '${sleepFile}' 2>/dev/null || echo 0)
case " $* " in
  *" -c "*|*xen-syms*) [ "$s" = 0 ] || sleep "$s" ;;
esac
exec gcc "$@"
`,
);
chmodSync(cc, 0o755);
const setSleep = (s: number) => writeFileSync(sleepFile, String(s));

// Series: each adds one new C file on the base, from its own author (reply.perAuthorPerHour).
const clone = join(scratch, 'contributor');
execFileSync('git', ['clone', '-q', upstream, clone]);
const git = (args: string[]) =>
  execFileSync('git', ['-C', clone, '-c', 'user.name=Bench', '-c', 'user.email=bench@example.org', ...args], {
    encoding: 'utf8',
  });
let made = 0;
function makeSeries(tag: string, count: number): { messageId: string; mail: Buffer }[] {
  return Array.from({ length: count }, (_, i) => {
    const n = made++;
    git(['checkout', '-q', '--detach', base]);
    const file = `xen/common/bench_${n}.c`;
    writeFileSync(
      join(clone, file),
      `int bench_${tag.replace(/\W/g, '_')}_${n}(void)\n{\n    return ${n};\n}\n`,
    );
    git(['add', file]);
    git([
      'commit',
      '-q',
      '-m',
      `xen: bench ${tag} file ${i}`,
      `--author=Bench Author ${n} <bench-${n}@example.org>`,
    ]);
    const messageId = `workers-${tag}-${i}-${n}@bench.example.org`;
    const text = git(['format-patch', '-1', '--stdout', `--base=${base}`, `--to=${LIST}`])
      .replace(/^From [0-9a-f]{40} .*\n/, '')
      .replace(/^(Subject: .*)$/m, `Message-ID: <${messageId}>\n$1`);
    return { messageId, mail: Buffer.from(text) };
  });
}

// Children: kept for a post-mortem, all killed if the bench fails.
interface Child {
  name: string;
  proc: ChildProcess;
  out: () => string;
  exited: Promise<unknown>;
}
const live = new Set<ChildProcess>();
function start(name: string, args: string[], cwd: string, logFile: string): Child {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('LISTCI_')) env[k] = v;
  const proc = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = once(proc, 'exit').then(() => {
    live.delete(proc);
    try {
      writeFileSync(logFile, out); // for LISTCI_BENCH_KEEP's post-mortem
    } catch {
      /* the scratch dir is gone already */
    }
  });
  return { name, proc, out: () => out, exited };
}
async function stop(c: Child): Promise<void> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
  await c.exited;
  clearTimeout(t);
}
async function until(ready: () => boolean, what: string, timeoutMs: number, context: () => string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = ready();
    } catch {
      /* the database is not there yet */
    }
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${context().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface RunRow {
  id: number;
  state: string;
  verdict: string | null;
  summary: string | null;
  started_at: string | null;
  finished_at: string | null;
}
interface Daemon extends Child {
  /** Writes the mails into the Maildir; returns when the first was written (ms). */
  post(mails: { mail: Buffer }[]): number;
  /** The newest run's id (0: none): a phase's runs are those after it. */
  lastId(): number;
  /** Until `n` runs after `afterId` are done, all of them passed; those runs. */
  waitDone(afterId: number, n: number): Promise<RunRow[]>;
  close(): Promise<void>;
}

let redis: TestRedis | null = null;
async function startDaemon(name: string, queued: boolean): Promise<Daemon> {
  const dir = join(scratch, name);
  const maildir = join(dir, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  const dbPath = join(dir, 'listci.db');
  const config = {
    list: { name: 'bench-devel', addresses: [LIST], subjectPrefix: null },
    workDir: join(dir, 'work'),
    database: dbPath,
    mail: { source: { type: 'maildir', path: maildir, pollSeconds: 0.25 } },
    repo: {
      url: upstream,
      mirror: join(dir, 'mirror.git'),
      defaultBranch: 'main',
      worktrees: 1,
      fetchIntervalMinutes: 60,
    },
    build: { runner: 'local', makeJobs: 1, timeoutMinutes: 5, toolchains: [{ name: TOOLCHAIN, cc }] },
    reply: { policy: 'always', dryRun: true, outbox: join(dir, 'outbox'), perHour: 10_000 },
    web: { enabled: true, host: '127.0.0.1', port: await freePort() },
    ...(queued
      ? { queue: { type: 'redis', url: redis!.url, prefix: PREFIX, maxInFlight: Math.max(8, SERIES) } }
      : {}),
    logLevel: 'info',
  };
  writeFileSync(join(dir, 'listci.yaml'), JSON.stringify(config, null, 2)); // JSON is YAML
  const child = start(name, ['daemon', '-c', join(dir, 'listci.yaml')], dir, join(dir, 'daemon.log'));
  await until(() => /web page and JSON API: /.test(child.out()), 'the daemon to start', 60_000, child.out);
  let db: Database | null = null;
  let seq = 0;
  const runs = (afterId: number): RunRow[] => {
    db ??= openDb(dbPath, { readonly: true });
    return db
      .prepare(
        `SELECT id, state, verdict, summary, started_at, finished_at FROM runs WHERE id > ? ORDER BY id`,
      )
      .all(afterId) as RunRow[];
  };
  return {
    ...child,
    post: (mails) => {
      const t0 = Date.now();
      for (const m of mails) {
        // Delivered as an MTA does: written in tmp/, then renamed into new/.
        const unique = `${Date.now()}.P${process.pid}Q${seq++}.bench`;
        writeFileSync(join(maildir, 'tmp', unique), m.mail);
        renameSync(join(maildir, 'tmp', unique), join(maildir, 'new', unique));
      }
      return t0;
    },
    lastId: () => {
      const rs = runs(0);
      return rs.length ? rs[rs.length - 1]!.id : 0;
    },
    waitDone: async (afterId, n) => {
      await until(
        () => runs(afterId).filter((r) => r.state === 'done').length >= n,
        `${n} runs done after run ${afterId} in ${name}`,
        PHASE_TIMEOUT_MS,
        () => `${JSON.stringify(runs(afterId).map((r) => [r.id, r.state]))}\n${child.out()}`,
      );
      const rs = runs(afterId);
      const bad = rs.filter((r) => r.verdict !== 'pass');
      if (bad.length)
        throw new Error(`${name}: runs did not pass: ${JSON.stringify(bad)}\n${child.out().slice(-4000)}`);
      return rs;
    },
    close: async () => {
      db?.close();
      await stop(child);
    },
  };
}

async function startWorker(i: number): Promise<Child> {
  const dir = join(scratch, `worker-${i}`);
  mkdirSync(dir, { recursive: true });
  const name = `bench-w${i}`;
  const config = {
    queue: { type: 'redis', url: redis!.url, prefix: PREFIX },
    workDir: join(dir, 'work'),
    name,
    concurrency: 1,
    build: { runner: 'local', makeJobs: 1 },
    toolchains: [{ name: TOOLCHAIN, cc }],
    logLevel: 'info',
  };
  writeFileSync(join(dir, 'worker.yaml'), JSON.stringify(config, null, 2));
  const child = start(name, ['worker', '-c', join(dir, 'worker.yaml')], dir, join(dir, 'worker.log'));
  const ready = new RegExp(`^listci worker ${name}: building ${TOOLCHAIN}`, 'm');
  await until(() => ready.test(child.out()), `worker ${name} to start`, 60_000, child.out);
  return child;
}

/** The finished jobs added since `sinceMs`, from Redis (BullMQ keeps them 2 days); none may have failed. */
async function jobsSince(sinceMs: number) {
  const q = new Queue(queueName(TOOLCHAIN), {
    connection: { host: redis!.host, port: redis!.port },
    prefix: PREFIX,
  });
  try {
    const failed = (await q.getJobs(['failed'])).filter((j) => j.timestamp >= sinceMs);
    if (failed.length)
      throw new Error(`failed jobs: ${failed.map((j) => `${j.id}: ${j.failedReason}`).join('; ')}`);
    return (await q.getJobs(['completed']))
      .filter((j) => j.timestamp >= sinceMs)
      .map((j) => {
        const result = parseResult(j.returnvalue);
        return {
          runId: (j.data as { runId: number }).runId,
          enqueued: j.timestamp,
          taken: j.processedOn!,
          finished: j.finishedOn!,
          worker: result.worker,
          buildStart: Date.parse(result.timings.startedAt),
          prepareMs: result.timings.prepareMs,
        };
      });
  } finally {
    await q.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const msOf = (r: RunRow) => Date.parse(r.finished_at!) - Date.parse(r.started_at!);
const f0 = (x: number) => x.toFixed(0);

/** One series at a time; the runs after the first (untimed: the embedded daemon's baseline). */
async function sequential(d: Daemon, tag: string): Promise<RunRow[]> {
  const after = d.lastId();
  const series = makeSeries(tag, OVERHEAD);
  for (const [i, s] of series.entries()) {
    d.post([s]);
    await d.waitDone(after, i + 1);
  }
  return (await d.waitDone(after, OVERHEAD)).slice(1);
}

const workers: Child[] = [];
/** Stops the workers past the first `n`. */
const keepWorkers = async (n: number) => {
  await Promise.all(workers.splice(n).map(stop));
};
const daemons: Daemon[] = [];
let embedded: RunRow[] = [];
let queuedRuns: RunRow[] = [];
let queuedJobs: Awaited<ReturnType<typeof jobsSince>> = [];
const throughput: {
  n: number;
  secs: number;
  perWorker: Record<string, number>;
  jobS: number;
  busyS: number;
}[] = [];
try {
  redis = await startRedis();
  const d = await startDaemon('queued', true);
  daemons.push(d);
  workers.push(...(await Promise.all(Array.from({ length: MAX_WORKERS }, (_, i) => startWorker(i)))));

  // Warm-up: as many series as cold workers, posted while every worker is idle.
  setSleep(1);
  const cold = new Set(workers.map((w) => w.name));
  let rounds = 0;
  while (cold.size > 0) {
    if (++rounds > 3) throw new Error(`warm-up: ${[...cold].join(', ')} took no job in 3 rounds`);
    const since = Date.now();
    const after = d.lastId();
    d.post(makeSeries(`warm${rounds}`, cold.size));
    await d.waitDone(after, cold.size);
    for (const j of await jobsSince(since)) cold.delete(j.worker);
  }
  progress(`warm-up: ${MAX_WORKERS} worker(s) have the base's baseline (${rounds} round(s))`);

  // Throughput: every series posted at once, to 4, 2, 1 worker(s).
  setSleep(SLEEP_S);
  for (const n of [...COUNTS].sort((a, b) => b - a)) {
    await keepWorkers(n);
    const after = d.lastId();
    const series = makeSeries(`tp${n}`, SERIES);
    const t0 = d.post(series);
    const rs = await d.waitDone(after, SERIES);
    const last = Math.max(...rs.map((r) => Date.parse(r.finished_at!)));
    const jobs = await jobsSince(t0);
    if (jobs.length !== SERIES) throw new Error(`${n} worker(s): ${jobs.length} jobs for ${SERIES} series`);
    const perWorker: Record<string, number> = {};
    for (const j of jobs) perWorker[j.worker] = (perWorker[j.worker] ?? 0) + 1;
    const held = jobs.map((j) => j.finished - j.taken);
    throughput.push({
      n,
      secs: (last - t0) / 1000,
      perWorker,
      jobS: mean(held) / 1000,
      busyS: held.reduce((a, b) => a + b, 0) / 1000,
    });
    progress(`throughput: ${n} worker(s), ${SERIES} series in ${((last - t0) / 1000).toFixed(1)} s`);
  }

  // Overhead: sleep 0, one at a time, queued (one worker), then embedded.
  setSleep(0);
  await keepWorkers(1);
  const since = Date.now();
  queuedRuns = await sequential(d, 'queued');
  const ids = new Set(queuedRuns.map((r) => r.id));
  queuedJobs = (await jobsSince(since)).filter((j) => ids.has(j.runId));
  progress(`overhead: queued through 1 worker, ${queuedRuns.length} checks`);
  await keepWorkers(0);
  await d.close();
  const e = await startDaemon('embedded', false);
  daemons.push(e);
  embedded = await sequential(e, 'embedded');
  await e.close();
  progress(`overhead: embedded daemon, ${embedded.length} checks`);
} catch (e) {
  for (const c of [...daemons, ...workers]) console.error(`--- ${c.name}:\n${c.out().slice(-3000)}`);
  throw e;
} finally {
  for (const p of live) p.kill('SIGKILL');
  await redis?.stop();
  if (!process.env.LISTCI_BENCH_KEEP) rmSync(scratch, { recursive: true, force: true });
  else console.error(`kept ${scratch}`);
}

const redisVersion = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1];
console.log(
  `demo tree, local runner, 1 toolchain, builds sleep ${SLEEP_S} s per compile and per link, ` +
    `${SERIES} one-patch series posted at once; worker concurrency 1; redis-server ${redisVersion ?? '?'}`,
);
// busy: the share of the wall time the workers held a job (BullMQ processedOn → finishedOn);
// near 100 % means the queue kept them fed, and a mean job slower than with one worker is the
// 2 CPUs' doing (gcc, git and node of every worker at once), not the queue's.
console.log('workers  wall s  series/min  speed-up  mean job s  busy %  jobs per worker');
throughput.sort((a, b) => a.n - b.n);
const one = throughput[0]!;
for (const t of throughput) {
  const spm = (SERIES / t.secs) * 60;
  const perWorker = Object.entries(t.perWorker)
    .sort()
    .map(([w, k]) => `${w}:${k}`)
    .join(' ');
  console.log(
    [
      String(t.n).padStart(7),
      t.secs.toFixed(1).padStart(6),
      spm.toFixed(1).padStart(10),
      (one.secs / t.secs).toFixed(2).padStart(8),
      t.jobS.toFixed(2).padStart(10),
      ((100 * t.busyS) / (t.n * t.secs)).toFixed(0).padStart(6),
      perWorker,
    ].join('  '),
  );
}

const byRun = new Map(queuedRuns.map((r) => [r.id, r]));
const pickup = queuedJobs.map((j) => j.taken - j.enqueued);
const ret = queuedJobs.map((j) => Date.parse(byRun.get(j.runId)!.finished_at!) - j.finished);
const queueMs = queuedJobs.map((_, i) => pickup[i]! + ret[i]!);
const workerMs = queuedJobs.map((j) => j.buildStart - j.taken + j.prepareMs);
const embeddedCheck = median(embedded.map(msOf));
const queuedCheck = median(queuedRuns.map(msOf));
console.log(
  `\nqueue overhead per job, builds sleep 0, ${queuedJobs.length} series one at a time, 1 worker (ms; median / mean / max):`,
);
for (const [label, xs] of [
  ['pickup (add → worker takes it)', pickup],
  ['return (worker done → daemon recorded)', ret],
  ['queue = pickup + return', queueMs],
  ["worker's own mirror + start", workerMs],
] as const)
  console.log(
    `  ${label.padEnd(40)} ${f0(median(xs)).padStart(6)} ${f0(mean(xs)).padStart(6)} ${f0(Math.max(...xs)).padStart(6)}`,
  );
console.log(
  `  check (run started → finished): embedded ${f0(embeddedCheck)}, queued ${f0(queuedCheck)}, ` +
    `queued - embedded ${f0(queuedCheck - embeddedCheck)} (medians of ${embedded.length} and ${queuedRuns.length})`,
);
console.log(`load at start: ${loadStart}`);
console.log(`load at end:   ${loadavg()}`);
const busyEnd = others();
if (busyEnd) console.log(`also running at end:\n${busyEnd}`);
