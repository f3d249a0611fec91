// What a contributor waits for: from the IMAP APPEND of a one-patch series to listci's reply
// reaching the SMTP server, on real Xen (scripts/get-xen.sh), three toolchains (gcc-12, gcc-11,
// clang-14) in Podman; the daemon runs as its own process, as in production. Three cases, each
// `runs` times (median), each series posted with `base-commit:` of upstream's newest main:
//   warm    the base was built before
//   idle    upstream main moved by a commit that changes a common header (xen/include/xen/lib.h)
//           and the daemon had the time to warm the new base up before the series came
//   now     upstream moved at the moment the series was posted: no time for a warm-up
// with the per-stage times of each run. Then the warm case's changes built by hand: plain `make`
// in one long-lived container per toolchain, same image, same build dir, same starting state;
// the ratio is listci's latency over the sum of those plain builds (parallel 1).
//
//   node --import tsx bench/latency.ts [runs] [movedRuns]   (default 3 3; targets: warm < 60 s, ratio < 1.3,
//                                                    idle within 1.2x warm)
//
// LISTCI_BENCH_BEFORE=1 runs the daemon as it was before warm-ups and the compiler cache
// (repo.warmUp false, build.ccacheMb 0) and skips the idle case, which needs a warm-up: its `now`
// is the "no later than today's" the now case is held to. LISTCI_BENCH_MOVED=idle or =now runs
// only that one of the two moved cases (the warm case always runs: its base and the plain make).
//
// LISTCI_BENCH_WORKDIR (default /var/tmp/listci-bench-latency) keeps the mirror, build dirs and
// baseline cache between runs: the first run builds each baseline cold (minutes), later ones do not.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRunner, ensureOwner } from '../src/build/engine.ts';
import { makeArgv, XEN_RECIPE, type RecipeConfig } from '../src/build/recipe.ts';
import type { RunDetail } from '../src/query/types.ts';
import { startDovecot } from '../test/helpers/dovecot.ts';
import { startSmtp } from '../test/helpers/smtp.ts';
import { startXenDaemon } from '../test/e2e/support.ts';
import { benchToolchain, xenBenchSetup } from './xen-setup.ts';

const runs = Number(process.argv[2] ?? 3);
// The moved cases rebuild most of Xen per toolchain (lib.h): minutes per run.
const movedRuns = Number(process.argv[3] ?? runs);
const FETCH_MINUTES = 0.1; // the bench's daemon fetches every 6 s
const LIST = 'xen-devel@lists.xenproject.org';
const { socket, xen } = xenBenchSetup(['gcc-12', 'gcc-11', 'clang-14']);
const before = process.env.LISTCI_BENCH_BEFORE === '1';
const moved = process.env.LISTCI_BENCH_MOVED ?? 'idle,now';
const idleRuns = before || !moved.includes('idle') ? 0 : movedRuns;
const nowRuns = moved.includes('now') ? movedRuns : 0;

const RECIPE: RecipeConfig = XEN_RECIPE;
const TOOLCHAINS = ['gcc-12', 'gcc-11', 'clang-14'].map((n) => ({
  ...benchToolchain(n),
  image: `localhost/listci/${n}`,
}));
// One C file per series, none compiled twice (common/compat/kernel.c includes ../kernel.c, so a
// new global there is a real duplicate definition). The first is the untimed warm-up's.
const FILES = [
  'xen/common/notifier.c',
  'xen/common/version.c',
  'xen/common/keyhandler.c',
  'xen/common/softirq.c',
  'xen/common/rangeset.c',
  'xen/common/random.c',
  'xen/common/radix-tree.c',
  'xen/common/bitmap.c',
  'xen/common/vsprintf.c',
  'xen/common/wait.c',
];
if (runs < 1 || runs > 3 || movedRuns < 1 || movedRuns > 3) throw new Error('runs must be 1..3');

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();
const loadStart = loadavg();
console.log(`load at start: ${loadStart}`);

const workDir = process.env.LISTCI_BENCH_WORKDIR ?? '/var/tmp/listci-bench-latency';
mkdirSync(workDir, { recursive: true });
chmodSync(workDir, 0o755); // builds run as uid 1000 and must traverse to the worktree
const scratch = mkdtempSync(join(tmpdir(), 'listci-bench-latency-'));

// Upstream is a bare copy the bench moves; the clone is both its committer and the contributor.
const upstream = join(scratch, 'upstream.git');
execFileSync('git', ['clone', '-q', '--bare', xen, upstream]);
const clone = join(scratch, 'xen');
execFileSync('git', ['clone', '-q', upstream, clone]);
const ident = ['-c', 'user.name=Bench Author', '-c', 'user.email=bench@example.org'];
const sh = (args: string[]) =>
  execFileSync('git', ['-C', clone, ...ident, ...args], { encoding: 'utf8' }).trim();
sh(['checkout', '-q', 'main']);
const stamp = Date.now();
let moves = 0;

/** Upstream main moves by one commit that changes a header most of Xen includes. */
function moveUpstream(): string {
  sh(['checkout', '-q', 'main']);
  moves++;
  // Inside the header's guard and its C part: a declaration every includer compiles once.
  const lib = join(clone, 'xen/include/xen/lib.h');
  const text = readFileSync(lib, 'utf8');
  const at = text.lastIndexOf('#endif /* __ASSEMBLER__ */');
  if (at < 0) throw new Error(`${lib}: no "#endif /* __ASSEMBLER__ */" to insert before`);
  const decl = `/* Staging move ${moves} of the latency bench. */\nextern unsigned int listci_staging_${stamp}_${moves};\n\n`;
  writeFileSync(lib, text.slice(0, at) + decl + text.slice(at));
  sh(['commit', '-q', '-am', `xen: latency bench staging move ${moves}`]);
  sh(['push', '-q', 'origin', 'main']);
  return sh(['rev-parse', 'HEAD']);
}

let posted = 0;
/** A one-patch series on upstream's main as it is now, with its base-commit: trailer. */
function seriesOnMain() {
  const i = posted++;
  const file = FILES[i]!;
  sh(['checkout', '-q', '--detach', 'main']);
  const base = sh(['rev-parse', 'HEAD']);
  appendFileSync(
    join(clone, file),
    `\n/* Build identifier of the latency bench, series ${i}. */\nconst unsigned int listci_latency_${stamp}_${i} = ${i};\n`,
  );
  // An author per series: ten series from one address would hit reply.perAuthorPerHour (5).
  sh([
    'commit',
    '-q',
    '-am',
    `xen: latency bench change ${i} in ${file}`,
    `--author=Bench Author ${i} <bench-${i}@example.org>`,
  ]);
  const sha = sh(['rev-parse', 'HEAD']);
  sh(['branch', '-f', `bench-${i}`, sha]);
  const messageId = `latency-${stamp}-${i}@bench.example.org`;
  const mail = execFileSync(
    'git',
    ['-C', clone, 'format-patch', '-1', '--stdout', `--base=${base}`, `--to=${LIST}`],
    { encoding: 'utf8' },
  )
    .replace(/^From [0-9a-f]{40} .*\n/, '')
    .replace(/^(Subject: .*)$/m, `Message-ID: <${messageId}>\n$1`);
  return { file, base, sha, mail, messageId };
}

const dovecot = await startDovecot();
const smtp = await startSmtp({ relay: (m) => dovecot.append(m.raw) });
const daemon = await startXenDaemon({
  dovecot,
  smtp,
  scratch,
  workDir,
  toolchains: TOOLCHAINS,
  extra: {
    repo: {
      url: upstream,
      mirror: join(workDir, 'mirror-bench.git'),
      defaultBranch: 'main',
      worktrees: 1,
      fetchIntervalMinutes: FETCH_MINUTES,
      ...(before ? { warmUp: false } : {}),
    },
    ...(before
      ? {
          build: {
            runner: 'podman',
            socket,
            parallel: 1,
            makeJobs: 2,
            timeoutMinutes: 15,
            toolchains: TOOLCHAINS,
            ccacheMb: 0,
          },
        }
      : {}),
  },
});
console.log(before ? 'as before issue 16: no warm-ups, no compiler cache' : 'warm-ups on, ccache on');

interface Measured {
  latencyMs: number;
  runId: number;
  verdict: string | null;
  /** Series build per toolchain. */
  builds: Record<string, number>;
  /** Baseline build per toolchain (0 when a snapshot served it). */
  baselines: Record<string, number>;
  stages: Record<string, number>;
}
const ms = (a: string | null, b: string | null) => (a && b ? Date.parse(b) - Date.parse(a) : NaN);

/** APPEND one series, wait for the reply at the SMTP server: the contributor's wait. */
async function post(s: ReturnType<typeof seriesOnMain>, timeoutMs: number): Promise<Measured> {
  const before = smtp.received.length;
  const t0 = Date.now();
  await dovecot.append(s.mail);
  for (;;) {
    // Polled (50 ms) rather than waitForMessages, which leaves a listener behind per wake-up.
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`no reply to ${s.messageId} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
    const reply = smtp.received
      .slice(before)
      .find((m) => m.raw.toString('utf8').includes(`In-Reply-To: <${s.messageId}>`));
    if (!reply) continue;
    const latencyMs = Date.now() - t0;
    const runId = Number(/^X-Listci-Run: (\d+)/im.exec(reply.raw.toString('utf8'))?.[1]);
    const detail = (await (await fetch(`${daemon.url}/api/runs/${runId}`)).json()) as RunDetail;
    if (detail.base.commit !== s.base)
      throw new Error(`run ${runId} built on ${detail.base.commit}, not ${s.base}`);
    // A base that does not build would time a failure, not a check.
    const failed = detail.builds
      .filter((b) => b.status !== 'pass')
      .map((b) => `${b.phase} ${b.toolchain} ${b.status}`);
    if (failed.length) throw new Error(`run ${runId}: ${failed.join(', ')}`);
    const builds: Record<string, number> = {};
    const baselines: Record<string, number> = {};
    let baseline = 0;
    let series = 0;
    for (const b of detail.builds) {
      if (b.phase === 'series') {
        builds[b.toolchain] = b.durationMs ?? NaN;
        series += b.durationMs ?? 0;
      } else {
        baselines[b.toolchain] = b.durationMs ?? 0;
        baseline += b.durationMs ?? 0;
      }
    }
    const t = detail.timestamps;
    const stages = {
      // APPEND → stored and queued (IMAP, grouping), waiting, then mirror + base + apply.
      intake: Date.parse(t.queued ?? '') - t0,
      wait: ms(t.queued, t.started),
      'fetch+apply': ms(t.started, t.buildStart),
      baseline,
      series,
      checks: ms(t.buildStart, t.buildEnd) - baseline - series,
      reply: latencyMs - (Date.parse(t.buildEnd ?? '') - t0),
    };
    return { latencyMs, runId, verdict: detail.verdict, builds, baselines, stages };
  }
}

/** Until every toolchain has a snapshot of `commit`: the warm-up the daemon did on its own. */
async function warmedUp(commit: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  const done = () =>
    TOOLCHAINS.every((t) => {
      try {
        return readdirSync(join(workDir, 'snapshots', t.name)).some(
          (n) => n.startsWith(`${commit}-`) && n.endsWith('.json'),
        );
      } catch {
        return false;
      }
    });
  while (!done()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`no warm-up of ${commit} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return Date.now() - t0;
}

// Plain make of the same changes from the same state: each series build in listci starts from a
// fresh copy of the base's snapshot and recompiles the one file its series touched, so the
// plain build does the same, in its own copy, with every other file dated before the snapshot.
// The daemon's one mirror has one worktree pool under worktrees/.
// Run between the warm and the moved cases: the moved ones evict the warm base's snapshot
// (build.snapshotsPerToolchain), and the daemon is idle then, its worktree free.
function plainMakes(): Record<string, number[]> {
  const plain: Record<string, number[]> = {};
  const pool = createHash('sha256').update(join(workDir, 'mirror-bench.git')).digest('hex').slice(0, 12);
  const wt = join(workDir, 'worktrees', pool, 'wt-0');
  const base = warmSeries[0]!.base;
  // Into FETCH_HEAD only: the objects arrive, no ref is left in listci's mirror.
  execFileSync('git', ['-C', wt, 'fetch', '-q', clone, ...warmSeries.map((s) => s.sha)]);
  const runner = new ContainerRunner({ socketPath: socket });
  const copy = join(scratch, 'plain-build');
  for (const t of TOOLCHAINS) {
    const snaps = join(workDir, 'snapshots', t.name);
    const snap = readdirSync(snaps).find((n) => n.startsWith(`${base}-`) && !n.endsWith('.json'));
    if (!snap) throw new Error(`no snapshot of ${base} under ${snaps}`);
    const argv = [
      ...makeArgv({ runner, recipe: RECIPE, toolchain: t, sourceDir: wt, buildDir: copy }),
      '-j2',
    ];
    const make = (sha: string): number => {
      rmSync(copy, { recursive: true, force: true });
      execFileSync('cp', ['-a', join(snaps, snap), copy]);
      ensureOwner(copy, 1000, 1000);
      execFileSync('git', ['-C', wt, 'checkout', '-q', '--detach', sha]);
      execFileSync('sh', ['-c', 'git ls-files -z | xargs -0 touch -h -d @946684800', 'sh'], { cwd: wt });
      const changed = execFileSync('git', ['-C', wt, 'diff', '--name-only', base, sha], { encoding: 'utf8' });
      for (const f of changed.split('\n').filter(Boolean)) execFileSync('touch', [join(wt, f)]);
      const ctr = execFileSync(
        'podman',
        [
          ...['run', '-d', '--rm', '--network=none', '--user=1000:1000'],
          ...['-v', `${wt}:/src:ro`, '-v', `${copy}:/build`, '-w', '/build'],
          t.image!,
          ...['sleep', 'infinity'],
        ],
        { encoding: 'utf8' },
      ).trim();
      try {
        // A fixed script; the make argv comes from this file's constants. Timed inside the container.
        const out = execFileSync(
          'podman',
          [
            ...['exec', '-e', 'LC_ALL=C', '-e', 'HOME=/tmp', ctr, 'sh', '-c'],
            's=$(date +%s%N); "$@" >/dev/null 2>&1 || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))',
            'sh',
            ...argv,
          ],
          { encoding: 'utf8' },
        );
        return Number(out.trim().split('\n').pop());
      } finally {
        execFileSync('podman', ['rm', '-f', ctr], { stdio: 'ignore' });
      }
    };
    plain[t.name] = warmSeries.map((s) => make(s.sha));
    console.error(`${t.name} plain make: ${plain[t.name]!.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s`);
  }
  return plain;
}

const cases: Record<'warm' | 'idle' | 'now', Measured[]> = { warm: [], idle: [], now: [] };
const warmUps: number[] = [];
const warmSeries: ReturnType<typeof seriesOnMain>[] = [];
const perToolchain = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([t, v]) => `${t} ${(v / 1000).toFixed(1)}`)
    .join(', ');
const say = (what: string, m: Measured) =>
  console.error(
    `${what}: ${(m.latencyMs / 1000).toFixed(1)} s (${m.verdict}, run ${m.runId}; ` +
      `baselines ${perToolchain(m.baselines)} s; series ${perToolchain(m.builds)} s; load ${loadavg()})`,
  );
let measured: Measured[] = [];
let plain: Record<string, number[]> = {};
try {
  // Untimed: builds or loads every baseline of main.
  say('warm-up', await post(seriesOnMain(), 60 * 60_000));
  for (let i = 0; i < runs; i++) {
    const s = seriesOnMain();
    warmSeries.push(s);
    const m = await post(s, 15 * 60_000);
    say(`warm ${i + 1} (${s.file})`, m);
    cases.warm.push(m);
  }
  plain = plainMakes();
  for (let i = 0; i < idleRuns; i++) {
    const head = moveUpstream();
    const w = await warmedUp(head, 30 * 60_000);
    warmUps.push(w);
    console.error(`staging moved to ${head.slice(0, 12)}: warmed up in ${(w / 1000).toFixed(1)} s`);
    const m = await post(seriesOnMain(), 15 * 60_000);
    say(`idle ${i + 1}`, m);
    cases.idle.push(m);
  }
  for (let i = 0; i < nowRuns; i++) {
    moveUpstream();
    const m = await post(seriesOnMain(), 30 * 60_000);
    say(`now ${i + 1}`, m);
    cases.now.push(m);
  }
  measured = cases.warm;
} catch (e) {
  console.error(daemon.tail(30));
  throw e;
} finally {
  await daemon.stop();
  await smtp.stop();
  await dovecot.stop();
}

const sec = (ms: number) => (ms / 1000).toFixed(1).padStart(7);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
console.log(
  `Xen ${xen} at ${warmSeries[0]!.base.slice(0, 12)}, LIVEPATCH+ENFORCE_UNIQUE_SYMBOLS, make -j2, parallel 1`,
);
console.log(
  `series  latency  ${TOOLCHAINS.map((t) => `${t.name} listci/plain`.padStart(22)).join('')}   plain sum  ratio  outside builds`,
);
const ratios: number[] = [];
measured.forEach((m, i) => {
  const sum = TOOLCHAINS.reduce((a, t) => a + plain[t.name]![i]!, 0);
  ratios.push(m.latencyMs / sum);
  // The wait that is listci's own (mail, git, checks, reply), whatever the load did to make.
  const outside = m.latencyMs - TOOLCHAINS.reduce((a, t) => a + (m.builds[t.name] ?? 0), 0);
  console.log(
    `${String(i + 1).padStart(6)} ${sec(m.latencyMs)}  ${TOOLCHAINS.map((t) => `${sec(m.builds[t.name] ?? NaN)} /${sec(plain[t.name]![i]!)}`.padStart(22)).join('')}  ${sec(sum)}  ${(m.latencyMs / sum).toFixed(2).padStart(5)}  ${sec(outside)}`,
  );
});
const medLatency = median(measured.map((m) => m.latencyMs));
const medRatio = median(ratios);
console.log(
  `median latency ${(medLatency / 1000).toFixed(1)} s (target < 60 s: ${medLatency < 60_000 ? 'met' : 'MISSED'}), ` +
    `median ratio ${medRatio.toFixed(2)} (target < 1.3: ${medRatio < 1.3 ? 'met' : 'MISSED'})`,
);
console.log(`verdicts: ${measured.map((m) => m.verdict).join(', ')}`);

// The three cases side by side, medians, with where the time went.
const STAGES = ['intake', 'wait', 'fetch+apply', 'baseline', 'series', 'checks', 'reply'];
console.log(
  `\ncase   median latency  ${STAGES.map((st) => st.padStart(11)).join('')}   (median s per stage)`,
);
for (const [name, ms] of Object.entries(cases)) {
  if (ms.length === 0) continue;
  const med = median(ms.map((m) => m.latencyMs));
  const stageMeds = STAGES.map((st) => sec(median(ms.map((m) => m.stages[st] ?? NaN))).padStart(11));
  console.log(
    `${name.padEnd(6)} ${sec(med).padStart(15)}  ${stageMeds.join('')}   runs: ${ms.map((m) => (m.latencyMs / 1000).toFixed(1)).join(', ')}`,
  );
}
const warmMed = median(cases.warm.map((m) => m.latencyMs));
const idleMed = median(cases.idle.map((m) => m.latencyMs));
if (cases.idle.length)
  console.log(
    `idle / warm = ${(idleMed / warmMed).toFixed(2)} (target <= 1.2: ${idleMed <= 1.2 * warmMed ? 'met' : 'MISSED'}); ` +
      `warm-ups took ${warmUps.map((w) => (w / 1000).toFixed(1)).join(', ')} s after the push`,
  );
const cacheStats = TOOLCHAINS.map((t) => {
  try {
    const out = execFileSync('ccache', ['-d', join(workDir, 'ccache', t.name), '--print-stats'], {
      encoding: 'utf8',
    });
    const get = (k: string) => Number(new RegExp(`^${k}\\t(\\d+)$`, 'm').exec(out)?.[1] ?? 0);
    return `${t.name} hits ${get('direct_cache_hit') + get('preprocessed_cache_hit')} misses ${get('cache_miss')}`;
  } catch {
    return `${t.name} no ccache stats`;
  }
});
console.log(`ccache (trusted builds only; series read it read-only, uncounted): ${cacheStats.join('; ')}`);
console.log(`load at start: ${loadStart}`);
console.log(`load at end:   ${loadavg()}`);
measured = [];
rmSync(scratch, { recursive: true, force: true });
