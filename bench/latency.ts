// What a contributor waits for: from the IMAP APPEND of a one-patch series to listci's reply
// reaching the SMTP server, on real Xen (scripts/get-xen.sh) with warm caches, three toolchains
// (gcc-12, gcc-11, clang-14) in Podman; the daemon runs as its own process, as in production.
// Then the same changes built by hand: plain `make` in one long-lived container per toolchain,
// same image, same build dir, same starting state; the ratio is listci's latency over the sum
// of those plain builds (the toolchains build one after the other, parallel 1).
//
//   node --import tsx bench/latency.ts [runs]        (default 3 series; targets: < 60 s, ratio < 1.3)
//
// LISTCI_BENCH_WORKDIR (default /var/tmp/listci-bench-latency) keeps the mirror, build dirs and
// baseline cache between runs: the first run builds each baseline cold (minutes), later ones do not.
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRunner, ensureOwner, findSocket } from '../src/build/engine.ts';
import { makeArgv, XEN_RECIPE, type RecipeConfig } from '../src/build/recipe.ts';
import type { ToolchainConfig } from '../src/config/schema.ts';
import type { RunDetail } from '../src/query/types.ts';
import { startDovecot } from '../test/helpers/dovecot.ts';
import { startSmtp } from '../test/helpers/smtp.ts';
import { startXenDaemon } from '../test/e2e/support.ts';

const repo = new URL('..', import.meta.url).pathname;
const runs = Number(process.argv[2] ?? 3);
const socket = findSocket(null);
const LIST = 'xen-devel@lists.xenproject.org';
execFileSync(join(repo, 'scripts/start-podman-service.sh'), [socket], { stdio: 'inherit' });
// LISTCI_BENCH_XEN=4.17 measures Debian's 4.17.5 instead of today's tree.
const xen = execFileSync(join(repo, 'scripts/get-xen.sh'), [process.env.LISTCI_BENCH_XEN ?? 'master'], {
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .pop()!;
execFileSync(join(repo, 'scripts/build-images.sh'), ['gcc-12', 'gcc-11', 'clang-14'], {
  stdio: 'inherit',
  cwd: repo,
});

const RECIPE: RecipeConfig = XEN_RECIPE;
const tc = (name: string, makeArgs: string[] = []): ToolchainConfig => ({
  name,
  image: `localhost/listci/${name}`,
  cc: name,
  hostcc: null,
  makeArgs,
  configFragment: [],
});
const TOOLCHAINS = [tc('gcc-12'), tc('gcc-11'), tc('clang-14', ['clang=y'])];
// One C file per series; the warm-up series' file is the "previous series" of the first one.
// None is compiled twice (common/compat/kernel.c includes ../kernel.c, so a new global there is
// a real duplicate definition: listci rightly fails it, and rebuilds it from scratch to confirm).
const FILES = [
  'xen/common/notifier.c',
  'xen/common/version.c',
  'xen/common/keyhandler.c',
  'xen/common/softirq.c',
  'xen/common/rangeset.c',
  'xen/common/random.c',
];
if (runs < 1 || runs > FILES.length - 1) throw new Error(`runs must be 1..${FILES.length - 1}`);

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();
const loadStart = loadavg();
console.log(`load at start: ${loadStart}`);

const workDir = process.env.LISTCI_BENCH_WORKDIR ?? '/var/tmp/listci-bench-latency';
mkdirSync(workDir, { recursive: true });
chmodSync(workDir, 0o755); // builds run as uid 1000 and must traverse to the worktree
const scratch = mkdtempSync(join(tmpdir(), 'listci-bench-latency-'));

// The series: commits on the base in a scratch clone, posted as `git format-patch` mails.
const clone = join(scratch, 'xen');
execFileSync('git', ['clone', '-q', '--no-checkout', xen, clone]);
execFileSync('git', ['-C', clone, 'checkout', '-q', 'main']);
const base = execFileSync('git', ['-C', clone, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
const stamp = Date.now();
const series = FILES.slice(0, runs + 1).map((file, i) => {
  execFileSync('git', ['-C', clone, 'checkout', '-q', '--detach', base]);
  appendFileSync(
    join(clone, file),
    `\n/* Build identifier of the latency bench, series ${i}. */\nconst unsigned int listci_latency_${stamp}_${i} = ${i};\n`,
  );
  const ident = ['-c', 'user.name=Bench Author', '-c', 'user.email=bench@example.org'];
  execFileSync('git', [
    '-C',
    clone,
    ...ident,
    'commit',
    '-q',
    '-am',
    `xen: latency bench change ${i} in ${file}`,
  ]);
  const sha = execFileSync('git', ['-C', clone, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  execFileSync('git', ['-C', clone, 'branch', '-f', `bench-${i}`, sha]);
  const mail = execFileSync('git', ['-C', clone, 'format-patch', '-1', '--stdout', `--to=${LIST}`], {
    encoding: 'utf8',
  })
    .replace(/^From [0-9a-f]{40} .*\n/, '')
    .replace(/^(Subject: .*)$/m, `Message-ID: <latency-${stamp}-${i}@bench.example.org>\n$1`);
  return { file, sha, mail, messageId: `latency-${stamp}-${i}@bench.example.org` };
});

const dovecot = await startDovecot();
const smtp = await startSmtp({ relay: (m) => dovecot.append(m.raw) });
const daemon = await startXenDaemon({ dovecot, smtp, scratch, workDir, toolchains: TOOLCHAINS });

interface Measured {
  latencyMs: number;
  runId: number;
  verdict: string | null;
  builds: Record<string, number>;
}
/** APPEND one series, wait for the reply at the SMTP server: the contributor's wait. */
async function post(s: (typeof series)[number], timeoutMs: number): Promise<Measured> {
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
    if (reply) {
      const latencyMs = Date.now() - t0;
      const runId = Number(/^X-Listci-Run: (\d+)/im.exec(reply.raw.toString('utf8'))?.[1]);
      const detail = (await (await fetch(`${daemon.url}/api/runs/${runId}`)).json()) as RunDetail;
      const builds: Record<string, number> = {};
      for (const b of detail.builds) if (b.phase === 'series') builds[b.toolchain] = b.durationMs ?? NaN;
      return { latencyMs, runId, verdict: detail.verdict, builds };
    }
  }
}

let measured: Measured[] = [];
try {
  // Warm-up (not timed): builds or loads every baseline and leaves each build dir warm.
  const warm = await post(series[0]!, 60 * 60_000);
  console.error(`warm-up: ${(warm.latencyMs / 1000).toFixed(1)} s (${warm.verdict})`);
  for (const s of series.slice(1)) {
    const m = await post(s, 15 * 60_000);
    console.error(`series touching ${s.file}: ${(m.latencyMs / 1000).toFixed(1)} s (${m.verdict})`);
    measured.push(m);
  }
} catch (e) {
  console.error(daemon.tail(30));
  throw e;
} finally {
  await daemon.stop();
  await smtp.stop();
  await dovecot.stop();
}

// Plain make of the same changes from the same state: each series build in listci starts from a
// fresh copy of the base's snapshot and recompiles the one file its series touched, so the
// plain build does the same, in its own copy, with every other file dated before the snapshot.
// The daemon's one mirror has one worktree pool under worktrees/.
const pool = readdirSync(join(workDir, 'worktrees'))[0]!;
const wt = join(workDir, 'worktrees', pool, 'wt-0');
// Into FETCH_HEAD only: the objects arrive, no ref is left in listci's mirror.
execFileSync('git', ['-C', wt, 'fetch', '-q', clone, ...series.map((_, i) => `bench-${i}`)]);
const plain: Record<string, number[]> = {};
const runner = new ContainerRunner({ socketPath: socket });
const copy = join(scratch, 'plain-build');
for (const t of TOOLCHAINS) {
  const snaps = join(workDir, 'snapshots', t.name);
  const snap = readdirSync(snaps).find((n) => n.startsWith(`${base}-`) && !n.endsWith('.json'));
  if (!snap) throw new Error(`no snapshot of ${base} under ${snaps}`);
  const argv = [...makeArgv({ runner, recipe: RECIPE, toolchain: t, sourceDir: wt, buildDir: copy }), '-j2'];
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
  plain[t.name] = series.slice(1).map((s) => make(s.sha));
  console.error(`${t.name} plain make: ${plain[t.name]!.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s`);
}

const sec = (ms: number) => (ms / 1000).toFixed(1).padStart(7);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
console.log(`Xen ${xen} at ${base.slice(0, 12)}, LIVEPATCH+ENFORCE_UNIQUE_SYMBOLS, make -j2, parallel 1`);
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
console.log(`load at start: ${loadStart}`);
console.log(`load at end:   ${loadavg()}`);
measured = [];
rmSync(scratch, { recursive: true, force: true });
