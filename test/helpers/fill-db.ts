// Fills a fresh database the way the pipeline would after checking a handful of xen-devel
// series that no toy tree can produce (clang-only duplicates, a bot error, hostile subjects):
// mail, series and reply rows are inserted directly and the checks go through
// recordCheckResult, the pipeline's own writer. test/web/api-real-checks.test.ts covers the
// same API over a database that real checks filled. Tests rely only on what a real run also
// produces: titles, authors, Message-IDs, toolchain names, symbol keys, verdicts, never row ids.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createWebApp } from '../../src/web/server.ts';
import { openDb, type Database } from '../../src/db/open.ts';
import { recordCheckResult } from '../../src/db/runs.ts';
import type { BuildReport, CheckResult, DuplicateSymbol, Verdict } from '../../src/contract.ts';

const DAY = 24 * 3600 * 1000;
const at = (daysAgo: number, minutes = 0) =>
  new Date(Date.now() - daysAgo * DAY + minutes * 60_000).toISOString();

export interface FilledSeries {
  title: string;
  author: string;
  /** Head Message-ID of each version, v1 first. */
  headMessageIds: string[];
}

export interface FilledDb {
  dbPath: string;
  workDir: string;
  series: {
    /** v1 breaks clang with a new duplicate hvm.c#cpu_callback, v2 fixes it. */
    hvm: FilledSeries;
    /** patch 2/3 does not apply. */
    vgic: FilledSeries;
    /** clang image missing: the bot's own error, gcc-12 passes. */
    libs: FilledSeries;
    /** subject and author name carry HTML and a terminal escape. */
    hostile: FilledSeries;
    /** passes, only a pre-existing duplicate. */
    credit2: FilledSeries;
  };
}

interface VersionSpec {
  version: number;
  daysAgo: number;
  patches: string[];
  cover: boolean;
  result: (ctx: { patches: { number: number; subject: string; messageId: string }[]; logDir: string }) => {
    verdict: Verdict;
    summary: string;
    builds: BuildReport[];
    apply?: CheckResult['apply'];
  };
  reply: 'sent' | 'suppressed';
}

interface SeriesSpec {
  key: keyof FilledDb['series'];
  title: string;
  name: string;
  addr: string;
  slug: string;
  versions: VersionSpec[];
}

const dup = (key: string, status: DuplicateSymbol['status'], objects: string[]): DuplicateSymbol => ({
  key,
  addresses: ['ffff82d040221afe', 'ffff82d04022149e'],
  objects,
  status,
});

function build(
  toolchain: string,
  status: BuildReport['status'],
  logDir: string,
  extra: Partial<BuildReport> = {},
): BuildReport {
  const logPath = join(logDir, `${toolchain}.log`);
  const dups = extra.duplicates ?? { new: [], preexisting: [] };
  const lines = [
    `make -C xen -j2 O=/build`,
    `  CC      arch/x86/hvm/hvm.o`,
    `  LD      /build/.xen-syms.1`,
    ...[...dups.new, ...dups.preexisting].map(
      (d) => `Duplicate symbol '${d.key}' (${d.addresses.join(' != ')})`,
    ),
    extra.botError ? `listci: ${extra.botError}` : `make: Leaving directory '/src/xen'`,
  ];
  mkdirSync(logDir, { recursive: true });
  writeFileSync(logPath, lines.join('\n') + '\n');
  return {
    toolchain,
    phase: 'series',
    status,
    durationMs: toolchain.startsWith('clang') ? 71_000 : 52_000,
    cached: false,
    duplicates: dups,
    fileCollisions: [],
    errors: [],
    botError: null,
    logPath,
    ...extra,
  };
}

const HOSTILE_TITLE = '<script>alert("xss")</script> x86: \u001b[31mred\u001b[0m <b>bold</b> & more';
const HOSTILE_NAME = 'Mallory <img src=x onerror=alert(1)>';

const SPECS: SeriesSpec[] = [
  {
    key: 'hvm',
    title: 'x86/hvm: rework cpu_callback registration',
    name: 'Roger Pau Monné',
    addr: 'roger.pau@citrix.com',
    slug: 'hvm-cpu-callback',
    versions: [
      {
        version: 1,
        daysAgo: 20,
        cover: true,
        patches: ['x86/hvm: move cpu_callback to hvm.c', 'x86/hvm: register the notifier early'],
        reply: 'sent',
        result: ({ logDir }) => ({
          verdict: 'fail',
          summary: 'fail: 1 new duplicate symbol under clang',
          builds: [
            build('gcc-12', 'pass', logDir),
            build('clang', 'fail', logDir, {
              duplicates: {
                new: [dup('hvm.c#cpu_callback', 'new', ['arch/x86/hvm/hvm.o', 'arch/x86/hvm/vmx/vmx.o'])],
                preexisting: [],
              },
              errors: [
                {
                  kind: 'duplicate-check',
                  file: null,
                  line: null,
                  message: "Duplicate symbol 'hvm.c#cpu_callback' (ffff82d040221afe != ffff82d04022149e)",
                  excerpt:
                    "  LD      /build/.xen-syms.1\nDuplicate symbol 'hvm.c#cpu_callback' (ffff82d040221afe != ffff82d04022149e)",
                  status: 'new',
                },
              ],
            }),
          ],
        }),
      },
      {
        version: 2,
        daysAgo: 3,
        cover: true,
        patches: ['x86/hvm: move cpu_callback to hvm.c', 'x86/hvm: register the notifier early'],
        reply: 'sent',
        result: ({ logDir }) => ({
          verdict: 'pass',
          summary: 'pass: no new duplicate symbols under gcc-12, clang',
          builds: [build('gcc-12', 'pass', logDir), build('clang', 'pass', logDir)],
        }),
      },
    ],
  },
  {
    key: 'vgic',
    title: 'xen/arm: vgic: constify the MMIO handlers',
    name: 'Julien Grall',
    addr: 'julien@xen.org',
    slug: 'vgic-constify',
    versions: [
      {
        version: 1,
        daysAgo: 10,
        cover: true,
        patches: [
          'xen/arm: vgic: constify vgic_v2_ops',
          'xen/arm: vgic: constify vgic_v3_ops',
          'xen/arm: vgic: drop the unused handler',
        ],
        reply: 'sent',
        result: ({ patches }) => ({
          verdict: 'fail',
          summary: 'fail: patch 2/3 does not apply to staging',
          apply: {
            ok: false,
            applied: 1,
            total: 3,
            failedPatch: {
              number: 2,
              total: 3,
              subject: patches[1]!.subject,
              messageId: patches[1]!.messageId,
            },
            error:
              'error: patch failed: xen/arch/arm/vgic-v3.c:1653\nerror: xen/arch/arm/vgic-v3.c: patch does not apply',
            conflicts: ['xen/arch/arm/vgic-v3.c'],
            mangled: null,
            skipped: 1,
          },
          builds: [],
        }),
      },
    ],
  },
  {
    key: 'libs',
    title: 'tools/libs: fix the build with gcc-12',
    name: 'Andrew Cooper',
    addr: 'andrew.cooper3@citrix.com',
    slug: 'libs-gcc12',
    versions: [
      {
        version: 1,
        daysAgo: 2,
        cover: false,
        patches: ['tools/libs: fix the build with gcc-12'],
        reply: 'suppressed',
        result: ({ logDir }) => ({
          verdict: 'error',
          summary: 'error: listci could not build with clang (image listci-tc-clang missing)',
          builds: [
            build('gcc-12', 'pass', logDir),
            build('clang', 'error', logDir, {
              botError: 'image listci-tc-clang not found',
              durationMs: 0,
            }),
          ],
        }),
      },
    ],
  },
  {
    key: 'hostile',
    title: HOSTILE_TITLE,
    name: HOSTILE_NAME,
    addr: 'mallory@example.org',
    slug: 'hostile',
    versions: [
      {
        version: 1,
        daysAgo: 1,
        cover: false,
        patches: [HOSTILE_TITLE],
        reply: 'sent',
        result: ({ logDir }) => ({
          verdict: 'fail',
          summary: 'fail: 1 new duplicate symbol under gcc-12',
          builds: [
            build('gcc-12', 'fail', logDir, {
              duplicates: {
                new: [
                  dup('entry.S#restore_all_guest', 'new', [
                    'arch/x86/x86_64/entry.o',
                    'arch/x86/x86_64/compat/entry.o',
                  ]),
                ],
                preexisting: [],
              },
            }),
            build('clang', 'pass', logDir),
          ],
        }),
      },
    ],
  },
  {
    key: 'credit2',
    title: 'xen/sched: credit2: tidy the runqueue lock helpers',
    name: 'Juergen Gross',
    addr: 'jgross@suse.com',
    slug: 'credit2-tidy',
    versions: [
      {
        version: 1,
        daysAgo: 15,
        cover: false,
        patches: ['xen/sched: credit2: tidy the runqueue lock helpers'],
        reply: 'sent',
        result: ({ logDir }) => ({
          verdict: 'pass',
          summary: 'pass: no new duplicate symbols under gcc-12, clang (1 pre-existing)',
          builds: [
            build('gcc-12', 'pass', logDir, {
              duplicates: {
                new: [],
                preexisting: [
                  dup('hvm.c#cpu_callback', 'preexisting', ['arch/x86/hvm/hvm.o', 'arch/x86/hvm/svm/svm.o']),
                ],
              },
            }),
            build('clang', 'pass', logDir),
          ],
        }),
      },
    ],
  },
];

function rawMail(
  from: string,
  subject: string,
  messageId: string,
  date: string,
  inReplyTo: string | null,
): Buffer {
  const lines = [
    `From: ${from}`,
    `To: xen-devel@lists.xenproject.org`,
    `Subject: ${subject}`,
    `Date: ${new Date(date).toUTCString()}`,
    `Message-ID: <${messageId}>`,
    ...(inReplyTo ? [`In-Reply-To: <${inReplyTo}>`, `References: <${inReplyTo}>`] : []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    '---',
    ' xen/arch/x86/hvm/hvm.c | 2 +-',
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}

function insertMessage(
  db: Database,
  m: {
    messageId: string;
    raw: Buffer;
    subject: string;
    name: string;
    addr: string;
    date: string;
    kind: string;
    inReplyTo: string | null;
  },
): void {
  db.prepare(
    `INSERT INTO messages (message_id, raw, size, source, received_at, subject, from_name, from_addr, date,
       in_reply_to, refs, kind)
     VALUES (?, ?, ?, 'imap:INBOX', ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    m.messageId,
    m.raw,
    m.raw.length,
    m.date,
    m.subject,
    m.name,
    m.addr,
    m.date,
    m.inReplyTo,
    JSON.stringify(m.inReplyTo ? [m.inReplyTo] : []),
    m.kind,
  );
}

export async function fillDbWithChecks(dbPath: string): Promise<FilledDb> {
  const workDir = dirname(dbPath);
  const db = openDb(dbPath);
  const out = {} as FilledDb['series'];
  try {
    for (const s of SPECS) {
      const from = `${s.name} <${s.addr}>`;
      const firstDay = s.versions[0]!.daysAgo;
      const lastDay = s.versions.at(-1)!.daysAgo;
      const seriesId = Number(
        db
          .prepare(
            `INSERT INTO series (list, title, author_name, author_addr, created_at, updated_at)
             VALUES ('xen-devel', ?, ?, ?, ?, ?)`,
          )
          .run(s.title, s.name, s.addr, at(firstDay), at(lastDay, 5)).lastInsertRowid,
      );
      const heads: string[] = [];
      for (const v of s.versions) {
        const mailAt = at(v.daysAgo);
        const total = v.patches.length;
        const tag = (n: number) =>
          `[PATCH${v.version > 1 ? ` v${v.version}` : ''}${total > 1 || v.cover ? ` ${n}/${total}` : ''}]`;
        const coverId = v.cover ? `${s.slug}-v${v.version}-0@xen.example` : null;
        if (coverId) {
          insertMessage(db, {
            messageId: coverId,
            raw: rawMail(from, `${tag(0)} ${s.title}`, coverId, mailAt, null),
            subject: `${tag(0)} ${s.title}`,
            name: s.name,
            addr: s.addr,
            date: mailAt,
            kind: 'cover',
            inReplyTo: null,
          });
        }
        const patches = v.patches.map((subject, i) => ({
          number: i + 1,
          subject: `${tag(i + 1)} ${subject}`,
          messageId: `${s.slug}-v${v.version}-${i + 1}@xen.example`,
        }));
        for (const p of patches) {
          const date = at(v.daysAgo, p.number);
          insertMessage(db, {
            messageId: p.messageId,
            raw: rawMail(from, p.subject, p.messageId, date, coverId),
            subject: p.subject,
            name: s.name,
            addr: s.addr,
            date,
            kind: 'patch',
            inReplyTo: coverId,
          });
        }
        const head = coverId ?? patches[0]!.messageId;
        heads.push(head);
        const completeAt = at(v.daysAgo, total);
        const versionId = Number(
          db
            .prepare(
              `INSERT INTO series_versions (series_id, version, total, subject, head_message_id, cover_message_id,
                 tags, state, first_seen_at, complete_at)
               VALUES (?, ?, ?, ?, ?, ?, '[]', 'complete', ?, ?)`,
            )
            .run(
              seriesId,
              v.version,
              total,
              `${tag(coverId ? 0 : 1)} ${s.title}`,
              head,
              coverId,
              mailAt,
              completeAt,
            ).lastInsertRowid,
        );
        const insPatch = db.prepare(
          'INSERT INTO patches (version_id, message_id, number, total, subject) VALUES (?, ?, ?, ?, ?)',
        );
        for (const p of patches) insPatch.run(versionId, p.messageId, p.number, total, p.subject);
        if (v.version > 1) {
          db.prepare(
            `UPDATE series_versions SET state = 'superseded', superseded_by = ? WHERE series_id = ? AND id != ?`,
          ).run(versionId, seriesId, versionId);
        }

        const logDir = join(workDir, 'logs', `${s.slug}-v${v.version}`);
        const r = v.result({ patches, logDir });
        const startedAt = at(v.daysAgo, total + 1);
        const buildStart = at(v.daysAgo, total + 2);
        const buildEnd = at(v.daysAgo, total + 4);
        const finishedAt = at(v.daysAgo, total + 5);
        const replyAt = at(v.daysAgo, total + 6);
        const result: CheckResult = {
          listciVersion: '0.1.0',
          series: {
            title: s.title,
            version: v.version,
            author: from,
            messageId: head,
            patches: patches.map((p) => ({ number: p.number, subject: p.subject, messageId: p.messageId })),
            complete: true,
            missing: [],
          },
          base: {
            commit: 'c1a3f2e4b5d6978812233445566778899aabbccd',
            ref: 'origin/staging',
            reason: 'default branch staging (no base-commit trailer)',
            steps: [
              { rule: 'base-commit', outcome: 'unavailable', detail: 'no base-commit trailer in any patch' },
              { rule: 'default-branch', outcome: 'chosen', detail: 'origin/staging at c1a3f2e4b5d6' },
            ],
          },
          apply: r.apply ?? {
            ok: true,
            applied: total,
            total,
            failedPatch: null,
            error: null,
            conflicts: [],
            mangled: null,
            skipped: 0,
          },
          builds: r.builds,
          verdict: r.verdict,
          summary: r.summary,
          startedAt,
          finishedAt,
        };
        const runId = recordCheckResult(db, {
          result,
          versionId,
          origin: 'mail',
          timestamps: {
            mailReceivedAt: mailAt,
            seriesCompleteAt: completeAt,
            queuedAt: completeAt,
            startedAt,
            buildStartedAt: r.builds.length ? buildStart : null,
            buildFinishedAt: r.builds.length ? buildEnd : null,
            finishedAt,
            replySentAt: v.reply === 'sent' ? replyAt : null,
          },
        });
        insertReply(db, runId, {
          from,
          subject: `Re: ${tag(coverId ? 0 : 1)} ${s.title}`,
          head,
          result,
          state: v.reply,
          at: replyAt,
        });
        db.prepare(
          `INSERT INTO jobs (kind, ref_id, state, attempts, run_after, created_at) VALUES ('check', ?, 'done', 1, ?, ?)`,
        ).run(runId, completeAt, completeAt);
      }
      out[s.key] = { title: s.title, author: from, headMessageIds: heads };
    }
    // A series that just arrived and waits for a builder: the queue the metrics report.
    db.prepare(
      `INSERT INTO runs (version_id, origin, state, queued_at) VALUES (NULL, 'check', 'queued', ?)`,
    ).run(at(0));
    const queuedRun = (db.prepare('SELECT max(id) AS id FROM runs').get() as { id: number }).id;
    db.prepare(
      `INSERT INTO jobs (kind, ref_id, state, attempts, run_after, created_at) VALUES ('check', ?, 'queued', 0, ?, ?)`,
    ).run(queuedRun, at(0), at(0));
  } finally {
    db.close();
  }
  return { dbPath, workDir, series: out };
}

function insertReply(
  db: Database,
  runId: number,
  r: {
    from: string;
    subject: string;
    head: string;
    result: CheckResult;
    state: 'sent' | 'suppressed';
    at: string;
  },
): void {
  const messageId = `listci-run-${runId}@listci.example`;
  const body = [
    `Hello,`,
    '',
    `listci checked this series on ${r.result.base?.ref ?? 'its base'}: ${r.result.summary}`,
    '',
    ...r.result.builds.flatMap((b) => [
      `  ${b.toolchain}: ${b.status}`,
      ...b.duplicates.new.map((d) => `    new duplicate symbol ${d.key} (${d.objects.join(', ')})`),
    ]),
    '',
    '-- ',
    'listci',
  ].join('\n');
  const raw = Buffer.from(
    [
      'From: listci <listci@listci.example>',
      `To: ${r.from}`,
      'Cc: xen-devel@lists.xenproject.org',
      `Subject: ${r.subject}`,
      `Message-ID: <${messageId}>`,
      `In-Reply-To: <${r.head}>`,
      `References: <${r.head}>`,
      `X-Listci-Run: ${runId}`,
      'Auto-Submitted: auto-generated',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      body,
    ].join('\r\n'),
  );
  db.prepare(
    `INSERT INTO replies (run_id, message_id, recipients, subject, raw, state, reason, attempts, created_at, sent_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    runId,
    messageId,
    JSON.stringify({ to: [r.from], cc: ['xen-devel@lists.xenproject.org'] }),
    r.subject,
    raw,
    r.state,
    r.state === 'suppressed' ? 'the bot could not judge: no reply blames the series' : null,
    r.state === 'sent' ? 1 : 0,
    r.at,
    r.state === 'sent' ? r.at : null,
  );
}

export interface FilledWebApp {
  filled: FilledDb;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** The web app over a freshly filled database, opened read-only as `listci serve` opens it. */
export async function filledWebApp(prefix: string): Promise<FilledWebApp> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const filled = await fillDbWithChecks(join(dir, 'listci.db'));
  const db = openDb(filled.dbPath, { readonly: true });
  const app = createWebApp({ db, workDir: filled.workDir });
  return {
    filled,
    app,
    async close() {
      await app.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
