import { skipUnlessCi } from '../helpers/prerequisite.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import type { RunDetail } from '../../src/query/types.ts';
import { startDovecot, type Dovecot } from '../helpers/dovecot.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import {
  contributorClone,
  LIST,
  mailboxContents,
  missingPrerequisites,
  XEN_TOOLCHAINS,
  sendEmail,
  startXenDaemon,
  waitFor,
  workDirFor,
  type DaemonChild,
} from './support.ts';

// The whole bot on real Xen, as xen-devel would see it: a contributor's `git send-email`
// reaches the list (SMTP relaying into the Dovecot mailbox listci watches over IMAP), the
// daemon (its own process) applies the patch to today's Xen (scripts/get-xen.sh master), builds
// the hypervisor with CONFIG_LIVEPATCH=y and CONFIG_ENFORCE_UNIQUE_SYMBOLS=y under gcc-12 and
// clang-14 in Podman, and its reply goes back through SMTP into the same mailbox, threaded under
// the patch.

const TOOLCHAINS = XEN_TOOLCHAINS;
// Both made with `git format-patch` on today's tree (git apply --check on main).
const CLEAN_PATCH = new URL('../fixtures/e2e/x86-mmconf-constify-fam10h-probes.patch', import.meta.url)
  .pathname;
const BREAKING_PATCH = new URL(
  '../fixtures/e2e/x86-hvm-exit-barrier-same-asm-basename.patch',
  import.meta.url,
).pathname;
// A cold Xen build is 1–4 minutes per toolchain on 2 shared cores; a failing series is also
// rebuilt from an empty build dir to confirm it. Generous, so a loaded machine is not a failure.
const PER_TEST_MS = 25 * 60_000;

const missing = missingPrerequisites(TOOLCHAINS.map((t) => t.image));

let dovecot: Dovecot;
let smtp: TestSmtp;
let daemon: DaemonChild;
let scratch: string;
let work: { dir: string; keep: boolean };
let dbPath: string;

before(async () => {
  if (missing) return;
  scratch = mkdtempSync(join(tmpdir(), 'listci-e2e-'));
  work = workDirFor('listci-e2e-work-');
  dovecot = await startDovecot();
  smtp = await startSmtp({ relay: (m) => dovecot.append(m.raw) });
  const started = await startXenDaemon({
    dovecot,
    smtp,
    scratch,
    workDir: work.dir,
    toolchains: TOOLCHAINS,
    extra: { logLevel: 'info' },
  });
  daemon = started;
  dbPath = started.dbPath;
});

after(async () => {
  if (missing) return;
  await daemon?.stop();
  await smtp?.stop();
  await dovecot?.stop();
  if (process.env.LISTCI_E2E_KEEP_LOGS) console.log(`e2e scratch dir kept: ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
  if (!work.keep) rmSync(work.dir, { recursive: true, force: true });
});

const addrs = (a: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address ?? ''));
const bare = (id: string | undefined): string => (id ?? '').replace(/^<|>$/g, '');

function db(): Database.Database {
  return new Database(dbPath, { readonly: true, fileMustExist: true });
}
function count(sql: string, ...args: unknown[]): number {
  const d = db();
  try {
    return (d.prepare(sql).get(...args) as { n: number }).n;
  } finally {
    d.close();
  }
}

/** Sends the patch, waits for listci's reply at the SMTP server; returns both as the list saw them. */
async function postAndAwaitReply(
  send: { args: string[]; repo?: string },
  from: string,
): Promise<{ patch: ParsedMail; reply: ParsedMail }> {
  const before = smtp.received.length;
  await sendEmail({ ...send, from, smtp, scratch });
  const [sent] = await smtp.waitForMessages(before + 1, 30_000).then((r) => r.slice(before));
  const posted = await simpleParser(sent!.raw);
  const replies = await waitFor(
    `listci's reply to ${posted.messageId}`,
    async () => {
      for (const m of smtp.received.slice(before + 1)) {
        const p = await simpleParser(m.raw);
        if (p.inReplyTo === posted.messageId) return [p];
      }
      return null;
    },
    PER_TEST_MS - 60_000,
    () => daemon.tail(),
  );
  return { patch: posted, reply: replies[0]! };
}

async function runDetail(runId: number): Promise<RunDetail> {
  const res = await fetch(`${daemon.url}/api/runs/${runId}`);
  assert.equal(res.status, 200, `GET /api/runs/${runId}`);
  return (await res.json()) as RunDetail;
}

function assertThreadedBotReply(reply: ParsedMail, patch: ParsedMail, author: string): number {
  assert.equal(reply.inReplyTo, patch.messageId, 'In-Reply-To names the patch');
  const refs = Array.isArray(reply.references) ? reply.references : [reply.references];
  assert.ok(refs.includes(patch.messageId!), `References include the patch: ${refs.join(' ')}`);
  assert.equal(reply.subject, `Re: ${patch.subject}`);
  assert.equal(reply.headers.get('auto-submitted'), 'auto-generated');
  const run = Number(reply.headers.get('x-listci-run'));
  assert.ok(run > 0, 'X-Listci-Run carries the run id');
  assert.deepEqual(addrs(reply.to), [author]);
  assert.deepEqual(addrs(reply.cc), [LIST]);
  return run;
}

test(
  'a clean hypervisor change sent with git send-email gets a threaded PASS reply for gcc-12 and clang-14',
  { skip: skipUnlessCi(missing), timeout: PER_TEST_MS },
  async () => {
    const author = 'alex.rivera@example.org';
    const from = `Alex Rivera <${author}>`;
    // The patch applied to a clone with `git am`, posted with `git send-email -1 HEAD`.
    const repo = await contributorClone({ patch: CLEAN_PATCH, from, scratch });
    const { patch, reply } = await postAndAwaitReply({ args: ['-1', 'HEAD'], repo }, from);
    assert.equal(patch.subject, '[PATCH] x86/mmconf: constify the family 10h host bridge probe table');
    const runId = assertThreadedBotReply(reply, patch, author);

    const text = reply.text ?? '';
    assert.match(text, /^PASS/, `the verdict comes first:\n${text}`);
    assert.match(text, /CONFIG_LIVEPATCH=y, CONFIG_ENFORCE_UNIQUE_SYMBOLS=y/);
    assert.match(text, /^\s+gcc-12\s+pass\b/m, `gcc-12 passed:\n${text}`);
    assert.match(text, /^\s+clang-14\s+pass\b/m, `clang-14 passed:\n${text}`);

    // The reply reached the list: it is in the mailbox listci reads.
    const inbox = await Promise.all((await mailboxContents(dovecot)).map((raw) => simpleParser(raw)));
    assert.ok(
      inbox.some((m) => m.messageId === reply.messageId),
      'the reply is in the list mailbox',
    );

    const detail = await runDetail(runId);
    assert.equal(detail.verdict, 'pass');
    assert.equal(detail.apply?.ok, true);
    assert.equal(detail.reply?.state, 'sent');
    assert.equal(detail.base.ref, 'main');
    for (const t of TOOLCHAINS) {
      const series = detail.builds.find((b) => b.toolchain === t.name && b.phase === 'series');
      assert.equal(series?.status, 'pass', `${t.name} series build: ${JSON.stringify(series)}`);
      assert.deepEqual(
        series.findings.filter((f) => f.status === 'new'),
        [],
        `${t.name}: nothing new`,
      );
    }

    // listci reads its own reply back from the list and leaves it alone.
    await waitFor(
      'the reply stored from IMAP and classified',
      () =>
        count(
          `SELECT count(*) AS n FROM messages WHERE message_id = ? AND kind != 'unclassified'`,
          bare(reply.messageId),
        ) === 1,
      60_000,
      () => daemon.tail(),
    );
    assert.equal(count(`SELECT own AS n FROM messages WHERE message_id = ?`, bare(reply.messageId)), 1);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(count('SELECT count(*) AS n FROM series_versions'), 1, 'no series from the reply');
    assert.equal(count('SELECT count(*) AS n FROM runs'), 1, 'no run from the reply');
    assert.equal(smtp.received.length, 2, 'the patch and one reply, nothing more');
  },
);

test(
  'two new .S files with the same basename and local label get a FAIL reply naming the new duplicate',
  { skip: skipUnlessCi(missing), timeout: PER_TEST_MS },
  async () => {
    const author = 'jane.doe@example.org';
    const { patch, reply } = await postAndAwaitReply({ args: [BREAKING_PATCH] }, `Jane Doe <${author}>`);
    const runId = assertThreadedBotReply(reply, patch, author);
    const text = reply.text ?? '';
    assert.match(text, /^FAIL/, `the verdict comes first:\n${text}`);
    for (const t of TOOLCHAINS) {
      assert.match(text, new RegExp(`^\\s+${t.name}\\s+FAIL\\b`, 'm'), `${t.name} failed:\n${text}`);
      assert.match(text, new RegExp(`New duplicate symbols under [^:]*${t.name}`), text);
    }
    // Xen's key: ld -r names an assembler object without a .file directive by its basename (the
    // series' barrier.S files lack the `.file __FILE__` today's Xen puts in its own .S files).
    assert.match(
      text,
      /^ {2}barrier\.o#exit_barrier\n\s+defined in: arch\/x86\/hvm\/svm\/barrier\.o, arch\/x86\/hvm\/vmx\/barrier\.o/m,
      text,
    );

    const detail = await runDetail(runId);
    assert.equal(detail.verdict, 'fail');
    for (const t of TOOLCHAINS) {
      const baseline = detail.builds.find((b) => b.toolchain === t.name && b.phase === 'baseline');
      assert.equal(baseline?.cached, true, `${t.name}: the base was built once, by the first run`);
      assert.ok(
        !baseline.findings.some((f) => f.symbol?.endsWith('#exit_barrier')),
        `${t.name}: the base has no exit_barrier`,
      );
      const series = detail.builds.find((b) => b.toolchain === t.name && b.phase === 'series');
      assert.equal(series?.status, 'fail', `${t.name} series build: ${JSON.stringify(series)}`);
      const dup = series.findings.find((f) => f.symbol === 'barrier.o#exit_barrier');
      assert.ok(dup, `${t.name}: the duplicate is a finding: ${JSON.stringify(series.findings)}`);
      assert.equal(dup.status, 'new');
      assert.deepEqual([...dup.objects].sort(), ['arch/x86/hvm/svm/barrier.o', 'arch/x86/hvm/vmx/barrier.o']);
      // The same key Xen's own --error-dup check printed when it stopped the link.
      const log = await fetch(`${daemon.url}/api/builds/${series.id}/log`).then((r) => r.text());
      assert.match(log, /Duplicate symbol 'barrier\.o#exit_barrier'/, `${t.name}: Xen's own check agrees`);
    }
  },
);
