import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import {
  assertOneCorrectReplyPerSeries,
  BAD_HEAD,
  DEMO_MAILS,
  GOOD_HEAD,
  header,
  killLeftoverDaemons,
  newCase,
  startDaemon,
  startWorld,
  stopDaemon,
  waitFor,
  type Case,
  type DaemonProcess,
  type World,
} from '../daemon/harness.ts';
import {
  contributorClone,
  missingPrerequisites,
  sendEmail,
  SOCKET,
  startXenDaemon,
  workDirFor,
  XEN_TOOLCHAINS,
  type DaemonChild,
} from '../e2e/support.ts';
import { startDovecot, type Dovecot } from '../helpers/dovecot.ts';
import { skipUnlessCi } from '../helpers/prerequisite.ts';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import {
  buildsDone,
  goodSeriesBatch,
  queryWorkers,
  workersUntil,
  queueDaemonConfig,
  repliesByThread,
  slowCompiler,
  startWorker,
  waitForRepliesTo,
  type PostedSeries,
  type SlowCompiler,
  type WorkerProcess,
} from './scale-out-support.ts';

// Issue 17's "done when": one `listci daemon`, two `listci worker`s and a real redis-server
// on loopback, the list a real Dovecot with SMTP relaying the replies into it, the demo tree
// built by each worker with its own compilers. What a maintainer checks: every series gets
// exactly one reply with the right verdict, whatever happens to a worker or to Redis, and
// `listci query workers` and the daemon's log say who built what.

const skip = skipUnlessCi(redisMissing());

// Short locks, so a worker killed with -9 is found out in seconds: its job's lock lapses
// after 5 s and the other worker's stalled check (every 2 s) gives the job back to the queue.
const QUEUE = { lockSeconds: 5, stalledSeconds: 2 };
// Each takes 15-30 s on an idle 2-core machine; the limit is for one that is also building Xen.
const TEST_MS = 180_000;

const MAILBOXES = ['spread', 'kill-worker', 'redis-restart', 'routing'];
let world: World;
before(async () => {
  if (skip) return;
  world = await startWorld(MAILBOXES);
});
after(async () => world?.stop());

/** One deployment: Redis, the daemon and its workers, each worker's compilers. */
interface Deployment {
  c: Case;
  redis: TestRedis;
  daemon: DaemonProcess;
  workers: Map<string, WorkerProcess>;
  compilers: Map<string, SlowCompiler[]>;
  /** Appends the series' mails to the list mailbox, all at once (one IMAP append each). */
  post(series: PostedSeries[]): Promise<void>;
  /** Worker name → whether one of its builds is in a (slow) link now. */
  linking(name: string): boolean;
  setLinkSleep(seconds: number): void;
}
let current: Deployment | null = null;

afterEach(async () => {
  await killLeftoverDaemons();
  await current?.redis.stop();
  current?.c.cleanup();
  current = null;
});

interface WorkerSpec {
  name: string;
  /** The toolchains it offers: a name and the compiler it calls it by (null: one that is not installed). */
  toolchains: { name: string; compiler: string | null }[];
}

async function deploy(
  mailbox: string,
  toolchains: Record<string, unknown>[],
  workerSpecs: WorkerSpec[],
): Promise<Deployment> {
  const c = newCase(world, mailbox);
  world.relayTo.mailbox = mailbox;
  world.smtp.reset();
  const redis = await startRedis();
  const partial = { c, redis } as Deployment;
  current = partial;
  queueDaemonConfig(
    c,
    { type: 'redis', url: redis.url, ...QUEUE, maxStalledCount: 2, maxInFlight: 4 },
    toolchains,
  );
  const daemon = startDaemon(c);
  const compilers = new Map<string, SlowCompiler[]>();
  const workers = await Promise.all(
    workerSpecs.map((spec) => {
      const dir = join(c.dir, spec.name);
      const offered = spec.toolchains.map((t) => {
        if (t.compiler === null) return { name: t.name, cc: join(dir, `no-${t.name}-here`) };
        const cc = slowCompiler(dir, `${t.name}-wrapper`, t.compiler);
        compilers.set(spec.name, [...(compilers.get(spec.name) ?? []), cc]);
        return { name: t.name, cc: cc.path };
      });
      return startWorker(dir, {
        name: spec.name,
        queue: { type: 'redis', url: redis.url, ...QUEUE },
        concurrency: 1,
        heartbeatSeconds: 1,
        build: { runner: 'local', makeJobs: 1 },
        toolchains: offered,
        logLevel: 'info',
      });
    }),
  );
  const d: Deployment = Object.assign(partial, {
    daemon,
    workers: new Map(workers.map((w) => [w.name, w])),
    compilers,
    post: async (series: PostedSeries[]) => c.append(series.flatMap((s) => s.mails)),
    linking: (name: string) => (compilers.get(name) ?? []).some((cc) => cc.linking()),
    setLinkSleep: (s: number) => {
      for (const ccs of compilers.values()) for (const cc of ccs) cc.setLinkSleep(s);
    },
  });
  return d;
}

/** Everything a failing wait should show: the daemon's and the workers' last lines. */
function context(d: Deployment): () => string {
  return () =>
    [
      `--- daemon\n${d.daemon.output().slice(-3000)}`,
      ...[...d.workers.values()].map((w) => `--- ${w.name}\n${w.output().slice(-1500)}`),
    ].join('\n');
}

/** Each series has exactly one reply, with the verdict it should have; nothing else was sent. */
function assertOneReplyEach(series: { head: string; verdict: string }[]): void {
  const threads = repliesByThread(world.smtp.received);
  assert.deepEqual(
    [...threads.keys()].sort(),
    series.map((s) => s.head).sort(),
    'replies go to the posted series, nowhere else',
  );
  for (const s of series) {
    const mails = threads.get(s.head)!;
    assert.equal(mails.length, 1, `series ${s.head}: ${mails.length} replies reached SMTP, want exactly 1`);
    assert.equal(header(mails[0]!, 'X-Listci-Verdict'), s.verdict, `series ${s.head}: verdict`);
  }
}

/** The database agrees: one run per series, done; one reply each, sent; every posted mail once. */
function assertRecorded(c: Case, series: number, mails: number): void {
  const count = (sql: string) => (c.db().prepare(sql).get() as { n: number }).n;
  assert.equal(
    count(`SELECT count(*) AS n FROM messages WHERE own = 0`),
    mails,
    'every posted mail is stored, once',
  );
  assert.equal(count(`SELECT count(*) AS n FROM series_versions`), series);
  assert.equal(count(`SELECT count(*) AS n FROM runs`), series, 'one run per series');
  assert.equal(count(`SELECT count(*) AS n FROM runs WHERE state = 'done'`), series);
  assert.equal(count(`SELECT count(*) AS n FROM replies`), series, 'one reply per run');
  assert.equal(count(`SELECT count(*) AS n FROM replies WHERE state = 'sent'`), series);
  assert.equal(count(`SELECT count(*) AS n FROM jobs WHERE state != 'done'`), 0, 'no job left behind');
}

async function stopAll(d: Deployment): Promise<void> {
  const how = await Promise.all([...d.workers.values()].map((w) => w.stop()));
  for (const [i, h] of how.entries())
    assert.deepEqual(h, { code: 0, signal: null }, `worker ${[...d.workers.keys()][i]} stopped cleanly`);
  // The daemon's last refresh records the workers' final figures (jobs done, stopped).
  assert.equal((await stopDaemon(d.daemon)).code, 0, 'the daemon stopped cleanly');
}

test(
  'series posted at once are spread across both workers, each built once',
  { skip, timeout: TEST_MS },
  async () => {
    const d = await deploy(
      'spread',
      [{ name: 'gcc', cc: 'gcc' }],
      [
        { name: 'w1', toolchains: [{ name: 'gcc', compiler: 'gcc' }] },
        { name: 'w2', toolchains: [{ name: 'gcc', compiler: 'gcc' }] },
      ],
    );
    for (const w of d.workers.values())
      assert.deepEqual(w.banner(), [`listci worker ${w.name}: building gcc`]);
    const series = goodSeriesBatch('spread', 4);
    await d.post(series);
    await waitForRepliesTo(
      world,
      series.map((s) => s.head),
      90_000,
      context(d),
    );
    // Stopped before counting: a second reply would have to be sent by now.
    await stopAll(d);
    assertOneReplyEach(series.map((s) => ({ head: s.head, verdict: 'pass' })));
    assertRecorded(d.c, series.length, series.length);

    const done = buildsDone(d.daemon.output());
    assert.deepEqual(
      done.map((b) => b.series).sort(),
      series.map((s) => s.title).sort(),
      'one build job done per series',
    );
    const builders = new Set(done.map((b) => b.worker));
    assert.deepEqual([...builders].sort(), ['w1', 'w2'], 'both workers built series');
    // build.runner is local in this config, but it is the workers that build, not the daemon.
    assert.doesNotMatch(
      d.daemon.output(),
      /build\.runner is local/,
      'no local-runner warning from the daemon',
    );

    const { workers, text } = await queryWorkers(d.c.dbPath);
    const byName = new Map(workers.map((w) => [w.name, w]));
    assert.deepEqual([...byName.keys()].sort(), ['w1', 'w2'], text);
    for (const name of ['w1', 'w2']) {
      const w = byName.get(name)!;
      assert.ok(w.jobsDone > 0, `${name} did some of the jobs:\n${text}`);
      assert.equal(w.jobsFailed, 0, `${name}: no job failed:\n${text}`);
      assert.equal(w.state, 'stopped', `${name} said it stopped:\n${text}`);
      assert.deepEqual(w.toolchains, ['gcc']);
    }
    assert.equal(
      byName.get('w1')!.jobsDone + byName.get('w2')!.jobsDone,
      series.length,
      `one job per series, none done twice:\n${text}`,
    );
  },
);

test(
  'a worker killed with -9 mid-build: the other worker takes its job, each series gets exactly one reply',
  { skip, timeout: TEST_MS },
  async () => {
    const d = await deploy(
      'kill-worker',
      [{ name: 'gcc', cc: 'gcc' }],
      [
        { name: 'w1', toolchains: [{ name: 'gcc', compiler: 'gcc' }] },
        { name: 'w2', toolchains: [{ name: 'gcc', compiler: 'gcc' }] },
      ],
    );
    // Both workers are up and on the daemon's books before anything is posted, as an operator
    // would check before trusting them with the list.
    await workersUntil(
      d.c,
      (ws) => ['w1', 'w2'].every((n) => ws.find((w) => w.name === n)?.state === 'idle'),
      'both workers recorded as idle',
      20_000,
    );
    d.setLinkSleep(3);
    await d.c.append(DEMO_MAILS); // Alice's good series and Bob's bad one
    await waitFor(
      () => d.linking('w1') || d.linking('w2'),
      'a build in progress on a worker',
      60_000,
      context(d),
    );
    const victim = d.linking('w1') ? d.workers.get('w1')! : d.workers.get('w2')!;
    const survivor = victim.name === 'w1' ? d.workers.get('w2')! : d.workers.get('w1')!;
    const started = victim.logged('build job started');
    assert.equal(started.length, 1, `${victim.name} is on its first job`);
    const killedRun = started[0]!.run as number;
    await victim.kill9();
    assert.equal(world.smtp.received.length, 0, 'nothing was sent before the kill');
    d.setLinkSleep(0);

    await waitForRepliesTo(world, [GOOD_HEAD, BAD_HEAD], 90_000, context(d));
    // The killed worker's heartbeat lapses: the daemon marks it gone (stopped workers stay "stopped").
    await workersUntil(
      d.c,
      (ws) => ws.find((w) => w.name === victim.name)?.state === 'gone',
      `${victim.name} recorded as gone`,
      20_000,
    );
    assert.deepEqual(await survivor.stop(), { code: 0, signal: null });
    assert.equal((await stopDaemon(d.daemon)).code, 0);

    // Alice's passes, Bob's fails on util.c#parse_one; one reply each, one run each, every mail once.
    assertOneCorrectReplyPerSeries(world, d.c);
    const done = buildsDone(d.daemon.output());
    assert.deepEqual(
      done.filter((b) => b.run === killedRun).map((b) => b.worker),
      [survivor.name],
      `the killed worker's run was built once, by ${survivor.name}`,
    );
    assert.equal(done.length, 2, 'one build job done per series');
    assert.doesNotMatch(d.daemon.output(), /build job failed/, 'the stall is no failure of the job');

    const { workers, text } = await queryWorkers(d.c.dbPath, { table: true });
    assert.deepEqual(
      workers.map((w) => [w.name, w.state, w.jobsDone, w.jobsFailed]).sort(),
      [
        [survivor.name, 'stopped', 2, 0],
        [victim.name, 'gone', 0, 0],
      ].sort(),
      `the survivor built both series; the killed worker is gone:\n${text}`,
    );
    assert.match(text, new RegExp(`\\n${victim.name} +gone +gcc `), text);
  },
);

test(
  'Redis stopped and restarted empty while mail arrives: every series before, during and after gets one reply',
  { skip, timeout: TEST_MS },
  async () => {
    const d = await deploy(
      'redis-restart',
      [{ name: 'gcc', cc: 'gcc' }],
      [
        { name: 'w1', toolchains: [{ name: 'gcc', compiler: 'gcc' }] },
        { name: 'w2', toolchains: [{ name: 'gcc', compiler: 'gcc' }] },
      ],
    );
    d.setLinkSleep(2);
    const before = goodSeriesBatch('before', 2);
    const during = goodSeriesBatch('during', 2);
    const afterwards = goodSeriesBatch('after', 2);
    const stored = () =>
      (d.c.db().prepare(`SELECT count(*) AS n FROM messages WHERE own = 0`).get() as { n: number }).n;

    await d.post(before);
    // Builds are in flight on both sides of the outage: some jobs queued, some mid-build.
    await waitFor(() => d.linking('w1') || d.linking('w2'), 'a build in progress', 60_000, context(d));
    await d.redis.cli('SHUTDOWN', 'NOSAVE');
    await assert.rejects(d.redis.cli('PING'), 'Redis is down');

    await d.post(during);
    // The daemon goes on taking in mail and recording it while Redis is away.
    await waitFor(
      () => stored() === before.length + during.length,
      'the mails posted during the outage stored',
      30_000,
      context(d),
    );
    await d.daemon.waitForLog(/Redis unreachable/, 30_000);
    // Down for a while: the workers' and the daemon's reconnect attempts go on meanwhile.
    await new Promise((r) => setTimeout(r, 2000));
    const early = repliesByThread(world.smtp.received);
    assert.ok(
      during.every((s) => !early.has(s.head)),
      'no series posted during the outage was checked without Redis',
    );

    await d.redis.restart(); // empty: no persistence, every job and heartbeat is gone
    await d.post(afterwards);
    d.setLinkSleep(0);

    const all = [...before, ...during, ...afterwards];
    await waitForRepliesTo(
      world,
      all.map((s) => s.head),
      90_000,
      context(d),
    );
    await stopAll(d);
    assertOneReplyEach(all.map((s) => ({ head: s.head, verdict: 'pass' })));
    assertRecorded(d.c, all.length, all.length);
    assert.match(d.daemon.output(), /Redis is back: build jobs continue/, 'the daemon saw the outage');
    assert.match(
      d.daemon.output(),
      /build job gone from Redis \(restarted without persistence\?\): queueing it again/,
      'jobs queued before the outage were lost with it, and queued again',
    );
    // A build whose result Redis no longer wanted (its job was queued again) is not a job done.
    const { workers, text } = await queryWorkers(d.c.dbPath);
    assert.equal(
      workers.reduce((n, w) => n + w.jobsDone, 0),
      all.length,
      `one job done per series, over both workers:\n${text}`,
    );
  },
);

test(
  'a job for a toolchain only one worker has goes to that worker',
  { skip, timeout: TEST_MS },
  async () => {
    const d = await deploy(
      'routing',
      [
        { name: 'gcc', cc: 'gcc' },
        { name: 'clang', cc: 'clang' },
      ],
      [
        {
          name: 'w1',
          toolchains: [
            { name: 'gcc', compiler: 'gcc' },
            { name: 'clang', compiler: 'clang' },
          ],
        },
        // It offers clang too, but has no clang: it says so, and serves gcc only.
        {
          name: 'w2',
          toolchains: [
            { name: 'gcc', compiler: 'gcc' },
            { name: 'clang', compiler: null },
          ],
        },
      ],
    );
    assert.deepEqual(d.workers.get('w1')!.banner(), ['listci worker w1: building gcc, clang']);
    const w2 = d.workers.get('w2')!.banner();
    assert.equal(w2[0], 'listci worker w2: building gcc');
    assert.match(w2[1] ?? '', /^ {2}not clang: compiler \S+no-clang-here not found on this host$/);

    const series = goodSeriesBatch('routing', 3);
    await d.post(series);
    await waitForRepliesTo(
      world,
      series.map((s) => s.head),
      90_000,
      context(d),
    );
    await stopAll(d);
    assertOneReplyEach(series.map((s) => ({ head: s.head, verdict: 'pass' })));
    for (const m of world.smtp.received) {
      const text = m.raw.toString('utf8');
      assert.match(text, /^\s+gcc\s+pass\b/m, `gcc passed:\n${text}`);
      assert.match(text, /^\s+clang\s+pass\b/m, `clang passed:\n${text}`);
    }
    assertRecorded(d.c, series.length, series.length);

    const done = buildsDone(d.daemon.output());
    const clang = done.filter((b) => b.toolchain === 'clang');
    assert.equal(clang.length, series.length, 'one clang job per series');
    assert.deepEqual([...new Set(clang.map((b) => b.worker))], ['w1'], 'every clang job was built by w1');
    assert.equal(done.filter((b) => b.toolchain === 'gcc').length, series.length, 'one gcc job per series');
    assert.ok(
      done.some((b) => b.toolchain === 'gcc' && b.worker === 'w2'),
      'w2 was not idle: it built gcc jobs',
    );

    const { workers, text } = await queryWorkers(d.c.dbPath, { table: true });
    const w2row = workers.find((w) => w.name === 'w2')!;
    assert.deepEqual(w2row.toolchains, ['gcc'], text);
    assert.match(w2row.missing.clang ?? '', /not found on this host/, text);
    assert.deepEqual(workers.find((w) => w.name === 'w1')!.toolchains.sort(), ['clang', 'gcc'], text);
    assert.match(text, /\nw2 +stopped +gcc !clang /, text);
  },
);

// Real Xen (today's master, scripts/get-xen.sh) in Podman, built by a worker: the daemon only
// chooses the base and replies. One toolchain, spelled exactly as the other real-Xen tests
// spell it, and the worker's work dir the one they share (LISTCI_E2E_WORKDIR): the master
// baseline they left is this build's start, so only the patched files are rebuilt.
const XEN_TOOLCHAIN = XEN_TOOLCHAINS[0]!;
const CLEAN_PATCH = new URL('../fixtures/e2e/x86-mmconf-constify-fam10h-probes.patch', import.meta.url)
  .pathname;
const XEN_MS = 30 * 60_000;
const xenMissing = redisMissing() ?? missingPrerequisites([XEN_TOOLCHAIN.image]);

test(
  'real Xen in Podman on a worker: a clean patch sent with git send-email gets its PASS, built on the worker',
  { skip: skipUnlessCi(xenMissing), timeout: XEN_MS },
  async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'listci-scale-out-xen-'));
    const work = workDirFor('listci-e2e-work-');
    const daemonWork = join(scratch, 'daemon-work');
    let dovecot: Dovecot | null = null;
    let smtp: TestSmtp | null = null;
    let redis: TestRedis | null = null;
    let daemon: (DaemonChild & { dbPath: string }) | null = null;
    let worker: WorkerProcess | null = null;
    try {
      dovecot = await startDovecot();
      const list = dovecot;
      smtp = await startSmtp({ relay: (m) => list.append(m.raw) });
      redis = await startRedis();
      // A Xen build takes minutes: locks as a deployment would set them, renewed while it runs.
      const queue = { type: 'redis', url: redis.url, lockSeconds: 30, stalledSeconds: 15 };
      worker = await startWorker(join(scratch, 'worker'), {
        name: 'xen-w1',
        workDir: work.dir,
        queue,
        concurrency: 1,
        heartbeatSeconds: 2,
        build: { runner: 'podman', socket: SOCKET, makeJobs: 2 },
        toolchains: [{ name: XEN_TOOLCHAIN.name, image: XEN_TOOLCHAIN.image }],
        logLevel: 'info',
      });
      assert.deepEqual(worker.banner(), [`listci worker xen-w1: building ${XEN_TOOLCHAIN.name}`]);
      daemon = await startXenDaemon({
        dovecot,
        smtp,
        scratch,
        // Its own mirror, nothing else: it builds nothing.
        workDir: daemonWork,
        toolchains: [XEN_TOOLCHAIN],
        extra: { queue: { ...queue, maxInFlight: 2 }, logLevel: 'info' },
      });

      const author = 'sam.okafor@example.org';
      const from = `Sam Okafor <${author}>`;
      const repo = await contributorClone({ patch: CLEAN_PATCH, from, scratch });
      await sendEmail({ args: ['-1', 'HEAD'], repo, from, smtp, scratch });
      const posted = smtp.received[0]!;
      const head = (header(posted, 'Message-ID') ?? '').replace(/^<|>$/g, '');
      assert.match(
        header(posted, 'Subject') ?? '',
        /x86\/mmconf: constify the family 10h host bridge probe table/,
      );

      const running = daemon;
      const mail = smtp;
      const w = worker;
      await waitFor(
        () => repliesByThread(mail.received).has(head),
        `listci's reply to <${head}>`,
        XEN_MS - 120_000,
        () => `--- daemon\n${running.tail(30)}\n--- worker\n${w.output().slice(-3000)}`,
      );
      const [reply, ...more] = repliesByThread(mail.received).get(head)!;
      const text = reply!.raw.toString('utf8');
      assert.equal(header(reply!, 'X-Listci-Verdict'), 'pass', text);
      assert.match(text, /^PASS/m, `the verdict comes first:\n${text}`);
      assert.match(text, /CONFIG_LIVEPATCH=y, CONFIG_ENFORCE_UNIQUE_SYMBOLS=y/);
      assert.match(text, new RegExp(`^\\s+${XEN_TOOLCHAIN.name}\\s+pass\\b`, 'm'), text);

      // Built on the worker: the daemon says who built it, and has no build of its own.
      const done = buildsDone(readFileSync(running.logPath, 'utf8'));
      assert.deepEqual(
        done.map((b) => [b.toolchain, b.worker]),
        [[XEN_TOOLCHAIN.name, 'xen-w1']],
        'one build job, done by the worker',
      );
      assert.ok(
        worker.logged('build job done').length === 1,
        `the worker built it:\n${worker.output().slice(-3000)}`,
      );
      for (const dir of ['builds', 'snapshots', 'worktrees'])
        assert.equal(existsSync(join(daemonWork, dir)), false, `the daemon's work dir has no ${dir}/`);

      assert.deepEqual(await worker.stop(), { code: 0, signal: null });
      await daemon.stop();
      assert.equal(more.length, 0, 'exactly one reply');
      const { workers, text: table } = await queryWorkers(daemon.dbPath, { table: true });
      assert.deepEqual(
        workers.map((x) => [x.name, x.state, x.jobsDone, x.jobsFailed]),
        [['xen-w1', 'stopped', 1, 0]],
        table,
      );
    } finally {
      await worker?.stop().catch(() => undefined);
      await daemon?.stop().catch(() => undefined);
      await redis?.stop();
      await smtp?.stop();
      await dovecot?.stop();
      if (!process.env.LISTCI_TEST_KEEP) rmSync(scratch, { recursive: true, force: true });
      if (!work.keep) rmSync(work.dir, { recursive: true, force: true });
    }
  },
);
