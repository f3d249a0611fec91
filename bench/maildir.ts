// Maildir poll benchmark: a Maildir of 20,000 list mails that listci has already stored
// (all in cur/), then the daemon's poll pass while nothing new arrives (just after a
// change, and once the directories have settled), and one with a few new mails. Prints milliseconds per pass; the poll runs on the daemon's main thread
// every mail.source.pollSeconds (2 s by default), so an idle pass must stay far below that.
// Usage: node --import tsx bench/maildir.ts [count]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../src/db/open.ts';
import * as maildir from '../src/ingest/maildir.ts';

const COUNT = Number(process.argv[2] ?? 20_000);
const PASSES = 5;
const dir = mkdtempSync(join(tmpdir(), 'listci-bench-maildir-'));
const box = join(dir, 'Maildir');
for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(box, sub), { recursive: true });
const cfg = { list: { name: 'xen-devel', addresses: [] }, series: { groupWindowMinutes: 120 } };

let seq = 0;
/** A one-patch posting of about 3 KB, as xen-devel carries them, under a Maildir unique name. */
function deliver(): void {
  const n = seq++;
  const date = new Date(Date.UTC(2024, 0, 1) + n * 20_000).toUTCString().replace('GMT', '+0000');
  const added = Array.from({ length: 40 }, (_, i) => `+    do_something_${n}_${i}(d, v, gfn, mfn);`).join(
    '\n',
  );
  const text = [
    `From: Dev ${n % 97} <dev${n % 97}@example.org>`,
    `To: xen-devel@lists.xenproject.org`,
    `Subject: [PATCH] xen/area${n}: fix the thing`,
    `Date: ${date}`,
    `Message-ID: <bench-${n}@example.org>`,
    '',
    'Longer explanation of the change.',
    '',
    'Signed-off-by: Dev <dev@example.org>',
    '---',
    `diff --git a/xen/common/f${n}.c b/xen/common/f${n}.c`,
    '--- a/xen/common/f.c',
    '+++ b/xen/common/f.c',
    '@@ -10,3 +10,43 @@ static int foo(void)',
    added,
    '-- ',
    '2.39.2',
    '',
  ].join('\n');
  writeFileSync(join(box, 'new', `${1700000000 + n}.M${n}P4242.bench`), text);
}

const db = openDb(join(dir, 'listci.db'));
for (let i = 0; i < COUNT; i++) deliver();

// One reader for the daemon's lifetime where the code has one; before, every pass was a full import.
const Reader = (maildir as Record<string, unknown>).MaildirReader as
  (new (...args: unknown[]) => { scan(): maildir.MaildirSummary }) | undefined;
const reader = Reader ? new Reader(db, box, cfg) : null;
const pass = (): maildir.MaildirSummary => (reader ? reader.scan() : maildir.importMaildir(db, box, cfg));

const timed = (): { ms: number; s: maildir.MaildirSummary } => {
  const t0 = performance.now();
  const s = pass();
  return { ms: performance.now() - t0, s };
};
const first = timed();
// Right after a change the directories are listed again (their mtime is too fresh to trust);
// a quiet list leaves them settled, which is what most 2-s polls see.
const recent = Array.from({ length: PASSES }, timed);
await new Promise((r) => setTimeout(r, 3500));
const settled = Array.from({ length: PASSES }, timed);
for (let i = 0; i < 10; i++) deliver();
const tenNew = timed();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const stats = (ps: { ms: number; s: maildir.MaildirSummary }[]) => ({
  medianMs: +median(ps.map((p) => p.ms)).toFixed(1),
  allMs: ps.map((p) => +p.ms.toFixed(1)),
  mailsRead: ps[0]!.s.messages,
});
db.close();
console.log(
  JSON.stringify({
    code: reader ? 'MaildirReader (reads what is new)' : 'importMaildir per pass (rereads new/ and cur/)',
    mails: COUNT,
    firstPass: { ms: Math.round(first.ms), stored: first.s.stored, moved: first.s.moved },
    idlePassJustAfterAChange: stats(recent),
    idlePassSettled: stats(settled),
    tenNewMails: { ms: +tenNew.ms.toFixed(1), read: tenNew.s.messages, stored: tenNew.s.stored },
  }),
);
rmSync(dir, { recursive: true, force: true });
