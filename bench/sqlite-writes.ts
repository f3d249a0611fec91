// The single SQLite writer's ceiling: the daemon's own writes for each checked series, through
// the project's db and ingest modules, on a real file in WAL mode (openDb: synchronous=NORMAL),
// with no build in between. Each series is what a live IMAP source and one run write:
//
//   per mail (cover + patches, and the review replies): store + UID mark   1 transaction
//                                                        parse + classify + place   1
//   scheduleReady (queueRun: run + job)                                   1
//   startNextRun (claim the job, start the run)                           1
//   enqueueReply's insertReply (the reply waits in the outbox)            1
//   finishRun (run, builds × toolchains, findings, job done)              1
//   startSending, markReplySent                                           2
//
// Prints transactions/s, mails/s and runs/s for each step and overall, and the
// cost of each step per quarter of the runs, to show whether it grows with the file. Wall
// figures suffer from whatever else runs on the machine; the per-CPU-second ones less so.
// Usage: node --import tsx bench/sqlite-writes.ts [series=2000] [patches=4] [replies=6] [toolchains=3]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildReport, CheckResult, DuplicateSymbol } from '../src/contract.ts';
import { writeMark } from '../src/db/mail-sync.ts';
import { openDb } from '../src/db/open.ts';
import { insertReply, markReplySent, startSending } from '../src/db/replies.ts';
import { finishRun, startNextRun } from '../src/db/runs.ts';
import { processStoredMessage, type ProcessConfig } from '../src/ingest/process.ts';
import { storeRawMessage } from '../src/ingest/store.ts';
import { scheduleReady } from '../src/daemon/schedule.ts';

const SERIES = Number(process.argv[2] ?? 2000);
const PATCHES = Number(process.argv[3] ?? 4);
const REPLIES = Number(process.argv[4] ?? 6);
const TOOLCHAINS = ['gcc-12', 'gcc-11', 'clang-14', 'gcc-13', 'clang-16', 'gcc-12-arm64'].slice(
  0,
  Number(process.argv[5] ?? 3),
);

const dir = mkdtempSync(join(tmpdir(), 'listci-bench-sqlite-'));
const dbPath = join(dir, 'listci.db');
const db = openDb(dbPath);
const cfg: ProcessConfig = {
  list: { name: 'linux-kernel', addresses: ['linux-kernel@vger.kernel.org'] },
  series: { groupWindowMinutes: 120 },
};
const SOURCE = 'imap:bench/INBOX';

let uid = 0;
const t0 = Date.UTC(2026, 0, 1);
function mail(h: Record<string, string>, body: string): Buffer {
  const date = new Date(t0 + uid * 5_000).toUTCString().replace('GMT', '+0000');
  const head = Object.entries({ Date: date, To: 'linux-kernel@vger.kernel.org', ...h })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  return Buffer.from(`${head}\n\n${body}\n`);
}
function diff(file: string, lines: number, tag: string): string {
  const added = Array.from({ length: lines }, (_, i) => `+\tdo_something_${tag}_${i}(dev, flags);`).join(
    '\n',
  );
  return `Explain the change, wrapped at 72 columns.\n\nSigned-off-by: Dev <dev@example.org>\n---\n ${file} | ${lines} +\n 1 file changed\n\ndiff --git a/${file} b/${file}\nindex 1111111..2222222 100644\n--- a/${file}\n+++ b/${file}\n@@ -10,3 +10,${lines + 3} @@ static int foo(void)\n {\n \tint rc = 0;\n \n${added}\n-- \n2.43.0\n`;
}
function seriesMails(s: number): { patches: Buffer[]; replies: Buffer[] } {
  const from = `Dev ${s % 997} <dev${s % 997}@example.org>`;
  const cover = `<s${s}-0@example.org>`;
  const patches = [
    mail(
      { From: from, Subject: `[PATCH 0/${PATCHES}] drivers/area${s}: series ${s}`, 'Message-ID': cover },
      'Cover letter.\n',
    ),
  ];
  for (let i = 1; i <= PATCHES; i++)
    patches.push(
      mail(
        {
          From: from,
          Subject: `[PATCH ${i}/${PATCHES}] drivers/area${s}: step ${i}`,
          'Message-ID': `<s${s}-${i}@example.org>`,
          'In-Reply-To': cover,
          References: cover,
        },
        diff(`drivers/area${s}/f${i}.c`, 20 + ((s * i) % 60), `${s}_${i}`),
      ),
    );
  const replies = Array.from({ length: REPLIES }, (_, r) =>
    mail(
      {
        From: `Reviewer ${r} <rev${r}@example.net>`,
        Subject: `Re: [PATCH ${1 + (r % PATCHES)}/${PATCHES}] drivers/area${s}: step ${1 + (r % PATCHES)}`,
        'Message-ID': `<r${s}-${r}@example.net>`,
        'In-Reply-To': `<s${s}-${1 + (r % PATCHES)}@example.org>`,
        References: `${cover} <s${s}-${1 + (r % PATCHES)}@example.org>`,
      },
      `On Monday Dev wrote:\n> +\tdo_something(dev, flags);\n\nWhy not the helper?\n\nReviewed-by: Reviewer ${r} <rev${r}@example.net>\n`,
    ),
  );
  return { patches, replies };
}

const dup = (key: string, status: DuplicateSymbol['status']): DuplicateSymbol => ({
  key,
  addresses: ['ffff82d040221afe', 'ffff82d04022149e'],
  objects: ['arch/x86/hvm/hvm.o', 'arch/x86/hvm/vmx/vmx.o'],
  status,
});
function result(s: number): CheckResult {
  const builds: BuildReport[] = TOOLCHAINS.flatMap((tc, i): BuildReport[] => {
    const fails = s % 5 === 0 && i === TOOLCHAINS.length - 1;
    const common = {
      toolchain: tc,
      fileCollisions: [],
      errors: [],
      botError: null,
      logPath: `/var/lib/listci/logs/run-${s}/${tc}.log`,
      arch: 'x86_64',
    };
    return [
      {
        ...common,
        phase: 'baseline',
        status: 'pass',
        durationMs: 37_000,
        cached: true,
        duplicates: { new: [], preexisting: [dup('entry.S#restore_all_guest', 'preexisting')] },
        mode: null,
      },
      {
        ...common,
        phase: 'series',
        status: fails ? 'fail' : 'pass',
        verdict: fails ? 'fail' : 'pass',
        durationMs: 21_000,
        cached: false,
        duplicates: {
          new: fails ? [dup(`hvm.c#cpu_callback_${s}`, 'new')] : [],
          preexisting: [dup('entry.S#restore_all_guest', 'preexisting')],
        },
        mode: {
          clean: false,
          rule: 'incremental',
          reason: 'incremental from the base snapshot',
          from: 'a'.repeat(40),
        },
      },
    ];
  });
  const at = new Date().toISOString();
  return {
    listciVersion: 'bench',
    series: {
      title: `drivers/area${s}: series ${s}`,
      version: 1,
      author: `Dev <dev${s % 997}@example.org>`,
      messageId: `<s${s}-0@example.org>`,
      patches: Array.from({ length: PATCHES }, (_, i) => ({
        number: i + 1,
        subject: `[PATCH ${i + 1}/${PATCHES}] drivers/area${s}: step ${i + 1}`,
        messageId: `<s${s}-${i + 1}@example.org>`,
      })),
      complete: true,
      missing: [],
    },
    base: { commit: 'a'.repeat(40), ref: 'master', reason: 'default branch', steps: [] },
    apply: {
      ok: true,
      applied: PATCHES,
      total: PATCHES,
      failedPatch: null,
      error: null,
      conflicts: [],
      mangled: null,
      skipped: 0,
    },
    builds,
    verdict: s % 5 === 0 ? 'fail' : 'pass',
    summary: s % 5 === 0 ? `fail: 1 new duplicate symbol under ${TOOLCHAINS.at(-1)}` : 'pass',
    startedAt: at,
    finishedAt: at,
  };
}

type Step =
  'storeMail' | 'processMail' | 'queueRun' | 'startNextRun' | 'insertReply' | 'finishRun' | 'sendReply';
const ms: Record<Step, number> = {
  storeMail: 0,
  processMail: 0,
  queueRun: 0,
  startNextRun: 0,
  insertReply: 0,
  finishRun: 0,
  sendReply: 0,
};
const txs: Record<Step, number> = { ...ms };
function timed<T>(step: Step, n: number, fn: () => T): T {
  const t = performance.now();
  const r = fn();
  ms[step] += performance.now() - t;
  txs[step] += n;
  return r;
}

function ingest(raw: Buffer): void {
  uid++;
  const stored = timed('storeMail', 1, () =>
    db.transaction(() => {
      const s = storeRawMessage(db, raw, SOURCE);
      writeMark(db, SOURCE, uid);
      return s;
    })(),
  );
  timed('processMail', 1, () => db.transaction(() => processStoredMessage(db, stored.id, cfg))());
}

const quarter: number[] = [];
// ms per transaction of each step in each quarter: a step whose cost grows with the file
// (a scan) shows here, while CPU contention moves every step alike.
const stepsByQuarter: Record<string, number>[] = [];
let qStart = performance.now();
let qMs = { ...ms };
let qTxs = { ...txs };
const start = performance.now();
const cpu0 = process.cpuUsage();
for (let s = 1; s <= SERIES; s++) {
  const { patches, replies } = seriesMails(s);
  for (const m of patches) ingest(m);
  const queued = timed('queueRun', 1, () => scheduleReady(db, new Date(), 30));
  if (queued.length !== 1) throw new Error(`series ${s}: ${queued.length} runs queued, expected 1`);
  const job = timed('startNextRun', 1, () => startNextRun(db));
  if (!job) throw new Error(`series ${s}: no job to start`);
  const runId = job.ref_id;
  const reply = timed('insertReply', 1, () =>
    insertReply(db, {
      runId,
      messageId: `<listci-run-${runId}@listci.example.org>`,
      recipients: { to: ['linux-kernel@vger.kernel.org'], cc: [`dev${s % 997}@example.org`] },
      subject: `Re: [PATCH 0/${PATCHES}] drivers/area${s}: series ${s}`,
      raw: Buffer.from(
        `Subject: Re: series ${s}\n\n${'listci: pass under gcc-12, gcc-11, clang-14\n'.repeat(30)}`,
      ),
      state: 'pending',
      reason: null,
      createdAt: new Date().toISOString(),
    }),
  );
  timed('finishRun', 1, () =>
    finishRun(db, { result: result(s), runId, versionId: queued[0]!.versionId, origin: 'mail' }),
  );
  timed('sendReply', 2, () => {
    const at = new Date().toISOString();
    if (!startSending(db, reply.id, at)) throw new Error('reply not claimable');
    markReplySent(db, { id: reply.id, run_id: runId }, at, 'sending');
  });
  // Review replies arrive while the run is under way; they are stored and classified too.
  for (const m of replies) ingest(m);
  if (s % Math.max(1, Math.floor(SERIES / 4)) === 0) {
    const now = performance.now();
    quarter.push(Math.round(Math.floor(SERIES / 4) / ((now - qStart) / 1000)));
    stepsByQuarter.push(
      Object.fromEntries(
        (Object.keys(ms) as Step[]).map((k) => [k, +((ms[k] - qMs[k]) / (txs[k] - qTxs[k])).toFixed(3)]),
      ),
    );
    qStart = now;
    qMs = { ...ms };
    qTxs = { ...txs };
  }
}
const secs = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
const totalTx = Object.values(txs).reduce((a, b) => a + b, 0);
const mails = SERIES * (PATCHES + 1 + REPLIES);
const counts = db
  .prepare(
    `SELECT (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM runs WHERE state = 'done') AS runs,
            (SELECT count(*) FROM builds) AS builds, (SELECT count(*) FROM findings) AS findings`,
  )
  .get();
db.close();
const perStep = Object.fromEntries(
  (Object.keys(ms) as Step[]).map((k) => [
    k,
    {
      transactions: txs[k],
      msPerTransaction: +(ms[k] / txs[k]).toFixed(3),
      perSecond: Math.round(txs[k] / (ms[k] / 1000)),
    },
  ]),
);
const runMs = ms.queueRun + ms.startNextRun + ms.insertReply + ms.finishRun + ms.sendReply;
console.log(
  JSON.stringify(
    {
      shape: {
        series: SERIES,
        patchesPerSeries: PATCHES,
        reviewRepliesPerSeries: REPLIES,
        toolchains: TOOLCHAINS,
      },
      seconds: +secs.toFixed(2),
      cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      transactions: totalTx,
      transactionsPerSecond: Math.round(totalTx / secs),
      mailsPerSecond: Math.round(mails / secs),
      mailMsEach: +((ms.storeMail + ms.processMail) / mails).toFixed(3),
      runLifecycleMsEach: +(runMs / SERIES).toFixed(3),
      runsPerSecondRunWritesOnly: Math.round(SERIES / (runMs / 1000)),
      seriesPerSecondAllWrites: +(SERIES / secs).toFixed(1),
      seriesPerCpuSecond: +(SERIES / ((cpu.user + cpu.system) / 1e6)).toFixed(1),
      transactionsPerCpuSecond: Math.round(totalTx / ((cpu.user + cpu.system) / 1e6)),
      seriesPerSecondByQuarter: quarter,
      msPerTransactionByQuarter: stepsByQuarter,
      perStep,
      rows: counts,
      dbMB: +(statSync(dbPath).size / 1048576).toFixed(1),
    },
    null,
    2,
  ),
);
rmSync(dir, { recursive: true, force: true });
