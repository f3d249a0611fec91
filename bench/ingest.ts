// Import benchmark: generates a 10,000-message mbox of xen-devel-like traffic (series
// with covers, lone patches, review replies, osstest reports, pull requests, a few
// broken mails), imports and groups it into a fresh SQLite file, prints messages/s
// and peak RSS. Target: >= 2,000 messages/s.
// Usage: node --import tsx bench/ingest.ts [count]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../src/db/open.ts';
import { splitMbox } from '../src/ingest/mbox.ts';
import { ingestMessages } from '../src/ingest/process.ts';

const COUNT = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'listci-bench-'));
const mboxPath = join(dir, 'xen-devel.mbox');
const dbPath = join(dir, 'listci.db');

let seq = 0;
const start = Date.UTC(2024, 0, 1);
function mail(h: Record<string, string>, body: string): string {
  const n = seq++;
  const date = new Date(start + n * 20_000).toUTCString().replace('GMT', '+0000');
  const head = Object.entries({ Date: date, ...h })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  const escaped = body.replace(/^(>*From )/gm, '>$1');
  return `From bench@example.org ${new Date(start + n * 20_000).toUTCString()}\n${head}\nList-Id: Xen developer discussion <xen-devel.lists.xenproject.org>\n\n${escaped}\n`;
}
function diff(file: string, lines: number, tag: string): string {
  const added = Array.from(
    { length: lines },
    (_, i) => `+    do_something_${tag}_${i}(d, v, gfn_x(gfn), mfn_x(mfn), flags);`,
  ).join('\n');
  return `Longer explanation of the change, wrapped at 72 columns as usual for\ncommit messages in the Xen tree.\n\nSigned-off-by: Dev <dev@example.org>\n---\n ${file} | ${lines} +\n 1 file changed\n\ndiff --git a/${file} b/${file}\nindex 1111111..2222222 100644\n--- a/${file}\n+++ b/${file}\n@@ -10,3 +10,${lines + 3} @@ static int foo(void)\n {\n     int rc = 0;\n \n${added}\n-- \n2.39.2\n`;
}

const parts: string[] = [];
let s = 0;
while (seq < COUNT) {
  s++;
  const who = `dev${s % 97}@example.org`;
  const from = `Dev ${s % 97} <${who}>`;
  const kind = s % 10;
  if (kind < 5) {
    // a series with a cover letter and 2..8 patches, plus a review reply
    const total = 2 + (s % 7);
    const cover = `s${s}-0@example.org`;
    parts.push(
      mail(
        {
          From: from,
          Subject: `[PATCH v${1 + (s % 3)} 0/${total}] xen/area${s}: series ${s}`,
          'Message-ID': `<${cover}>`,
        },
        'Cover letter text.\n',
      ),
    );
    for (let i = 1; i <= total && seq < COUNT; i++)
      parts.push(
        mail(
          {
            From: from,
            Subject: `[PATCH v${1 + (s % 3)} ${i}/${total}] xen/area${s}: step ${i}`,
            'Message-ID': `<s${s}-${i}@example.org>`,
            'In-Reply-To': `<${cover}>`,
            References: `<${cover}>`,
          },
          diff(`xen/common/f${s}_${i}.c`, 10 + ((s * i) % 60), `${s}_${i}`),
        ),
      );
    if (seq < COUNT)
      parts.push(
        mail(
          {
            From: 'Reviewer <rev@example.net>',
            Subject: `Re: [PATCH ${1}/${total}] xen/area${s}: step 1`,
            'Message-ID': `<r${s}@example.net>`,
            'In-Reply-To': `<s${s}-1@example.org>`,
            References: `<${cover}> <s${s}-1@example.org>`,
          },
          `On Monday Dev wrote:\n> diff --git a/x b/x\n> +foo\n\nReviewed-by: Reviewer <rev@example.net>\n`,
        ),
      );
  } else if (kind < 7) {
    parts.push(
      mail(
        { From: from, Subject: `[PATCH] xen/lone${s}: fix`, 'Message-ID': `<l${s}@example.org>` },
        diff(`xen/arch/x86/l${s}.c`, 5 + (s % 30), `l${s}`),
      ),
    );
  } else if (kind === 7) {
    parts.push(
      mail(
        {
          From: 'osstest service owner <osstest-admin@xenproject.org>',
          Subject: `[xen-unstable test] ${180000 + s}: regressions - FAIL`,
          'Message-ID': `<osstest-${s}@xen.org>`,
        },
        `flight ${180000 + s} xen-unstable real [real]\n${'test-amd64 fail\n'.repeat(80)}`,
      ),
    );
  } else if (kind === 8) {
    parts.push(
      mail(
        { From: from, Subject: `[GIT PULL] pull ${s}`, 'Message-ID': `<p${s}@example.org>` },
        'The following changes since commit 0123456789abcdef0123456789abcdef01234567:\n\nFrom the start of the branch\n',
      ),
    );
  } else {
    parts.push(
      s % 20 === 9
        ? mail(
            {
              From: from,
              Subject: '[PATCH] broken',
              'Content-Type': 'multipart/mixed; boundary="x"',
              'Message-ID': `<b${s}@example.org>`,
            },
            '--x\nContent-Type: text/plain\n\ntruncated',
          )
        : mail(
            { From: from, Subject: `question ${s}`, 'Message-ID': `<q${s}@example.org>` },
            'A question.\n'.repeat(20),
          ),
    );
  }
}
writeFileSync(mboxPath, parts.join('\n'));

let peak = process.memoryUsage().rss;
const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const buf = readFileSync(mboxPath);
const db = openDb(dbPath);
const summary = ingestMessages(
  db,
  splitMbox(buf),
  `mbox:${mboxPath}`,
  { list: { name: 'xen-devel', addresses: [] }, series: { groupWindowMinutes: 120 } },
  { afterCommit: () => (peak = Math.max(peak, process.memoryUsage().rss)) },
);
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSecs = (cpu.user + cpu.system) / 1e6;
clearInterval(sample);
peak = Math.max(peak, process.memoryUsage().rss);
const versions = db.prepare('SELECT state, count(*) AS n FROM series_versions GROUP BY state').all();
db.close();
console.log(
  JSON.stringify({
    messages: summary.messages,
    mboxMB: +(buf.length / 1048576).toFixed(1),
    seconds: +secs.toFixed(2),
    messagesPerSecond: Math.round(summary.messages / secs),
    cpuSeconds: +cpuSecs.toFixed(2),
    messagesPerCpuSecond: Math.round(summary.messages / cpuSecs),
    peakRssMB: Math.round(peak / 1048576),
    kinds: summary.kinds,
    versions,
  }),
);
rmSync(dir, { recursive: true, force: true });
