import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { importMaildir } from '../../src/ingest/maildir.ts';
import { CORPUS, cfg, freshDb } from './corpus-helpers.ts';

const SERIES = ['series-a-v1-0of3-cover', 'series-a-v1-1of3', 'series-a-v1-2of3', 'series-a-v1-3of3'];

test('maildir: new/ mails are stored, grouped, then moved to cur/; a second scan stores nothing twice', () => {
  const dir = mkdtempSync(join(tmpdir(), 'listci-maildir-'));
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(dir, sub));
  SERIES.forEach((n, i) =>
    copyFileSync(join(CORPUS, `${n}.eml`), join(dir, 'new', `17000000${i}.M1P1.host`)),
  );
  copyFileSync(join(CORPUS, 'malformed-binary-garbage.eml'), join(dir, 'cur', '1.M2P2.host:2,S'));
  const db = freshDb();
  const s = importMaildir(db, dir, cfg);
  assert.deepEqual([s.stored, s.moved, s.kinds], [5, 4, { cover: 1, patch: 3, malformed: 1 }]);
  assert.deepEqual(readdirSync(join(dir, 'new')), []);
  assert.equal(readdirSync(join(dir, 'cur')).length, 5);
  const again = importMaildir(db, dir, cfg);
  assert.deepEqual([again.stored, again.duplicates], [0, 5]);
});

test('listci ingest --mbox --json prints counts per kind and the series found', () => {
  const dir = mkdtempSync(join(tmpdir(), 'listci-cli-'));
  const mbox = join(dir, 'a.mbox');
  writeFileSync(
    mbox,
    [...SERIES, 'reply-re-quoting-patch']
      .map(
        (n) =>
          `From jane@example.org Mon Jan  1 10:00:00 2024\n${readFileSync(join(CORPUS, `${n}.eml`), 'latin1')}\n`,
      )
      .join(''),
    'latin1',
  );
  writeFileSync(join(dir, 'listci.yaml'), `database: ${join(dir, 'listci.db')}\n`);
  const r = spawnSync(
    process.execPath,
    ['bin/listci.js', 'ingest', '--mbox', mbox, '--json', '-c', join(dir, 'listci.yaml')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual([out.messages, out.kinds], [5, { cover: 1, patch: 3, reply: 1 }]);
  assert.deepEqual(
    out.series.map((v: { title: string; version: number; state: string }) => [v.title, v.version, v.state]),
    [['x86/hvm: tidy up emulation', 1, 'complete']],
  );
});
