// One contract, one source. The API serves query/types.ts as the query layer returns it, with
// no response schema in between (fastify drops every field such a schema does not list), and
// a real check's CheckResult is the same object whether `listci check --json` printed it, the
// runs table stored it, or `GET /api/runs/:id` serves it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { CheckResult } from '../../src/contract.ts';
import { openDb, type Database } from '../../src/db/open.ts';
import { listFindings } from '../../src/query/findings.ts';
import { getRun } from '../../src/query/run-detail.ts';
import { listSeries } from '../../src/query/series-list.ts';
import type { RunDetail } from '../../src/query/types.ts';
import { registerApi } from '../../src/web/api.ts';
import { createWebApp } from '../../src/web/server.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { filledWebApp, type FilledWebApp } from '../helpers/fill-db.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('the API serves the query layer as it is', () => {
  let web: FilledWebApp;
  let db: Database;
  before(async () => {
    web = await filledWebApp('listci-api-contract-');
    db = openDb(web.filled.dbPath, { readonly: true });
  });
  after(async () => {
    db?.close();
    await web?.close();
  });

  test('no route has a response schema that could drop a field', async () => {
    const app = Fastify();
    const withResponse: string[] = [];
    app.addHook('onRoute', (r) => {
      if (r.schema?.response) withResponse.push(`${r.method} ${r.url}`);
    });
    registerApi(app, db, web.filled.workDir);
    await app.ready();
    await app.close();
    assert.deepEqual(withResponse, []);
  });

  for (const [url, query] of [
    ['/api/series', () => listSeries(db, {}, { limit: 50 })],
    ['/api/findings', () => listFindings(db, {}, { limit: 50 })],
  ] as const) {
    test(`${url}: a field added to each item reaches the client, and the rest is the query's own output`, async () => {
      const app = createWebApp({ db, workDir: web.filled.workDir });
      // What a new field in query/types.ts looks like by the time fastify serialises the reply.
      app.addHook('preSerialization', async (_req, _reply, payload: { items?: object[] }) =>
        payload.items
          ? { ...payload, items: payload.items.map((i) => ({ ...i, addedLater: 'kept' })) }
          : payload,
      );
      const res = await app.inject({ method: 'GET', url });
      await app.close();
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json() as { items: Record<string, unknown>[] };
      assert.ok(page.items.length > 0, 'the filled database has rows');
      for (const item of page.items) assert.equal(item.addedLater, 'kept');
      const served = { ...page, items: page.items.map(({ addedLater: _, ...rest }) => rest) };
      assert.deepEqual(served, plain(query()));
    });
  }
});

describe('a real check: --json, the stored result and GET /api/runs/:id are one object', () => {
  let dir: string;
  before(() => {
    dir = tempDir('listci-contract-');
    execFileSync(join(ROOT, 'demo/make-repo.sh'), [join(dir, 'tree')]);
    writeFileSync(
      join(dir, 'listci.yaml'),
      `repo: { url: ./tree, defaultBranch: main }
database: ./var/listci.db
build: { runner: local, toolchains: [ { name: gcc, cc: gcc } ] }
`,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("Bob's bad series, checked with the CLI, read back from the database and the API", async () => {
    const inbox = join(ROOT, 'demo/inbox');
    const mails = readdirSync(inbox)
      .filter((n) => /^0[234]-/.test(n))
      .sort()
      .map((n) => `From x Fri Nov 27 09:00:00 2026\n${readFileSync(join(inbox, n), 'utf8')}\n`);
    writeFileSync(join(dir, 'bad.mbox'), mails.join(''));
    const r = runCli(['check', '--mbox', 'bad.mbox', '--json'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    const printed = JSON.parse(r.stdout) as CheckResult;
    assert.equal(printed.verdict, 'fail');
    assert.ok(
      printed.builds.some((b) => b.duplicates.new.length > 0),
      'a real finding to carry',
    );

    const db = openDb(join(dir, 'var/listci.db'), { readonly: true });
    const app = createWebApp({ db, workDir: join(dir, 'var') });
    try {
      const [{ id }] = db.prepare('SELECT id FROM runs').all() as [{ id: number }];
      const stored = getRun(db, id)!;
      const res = await app.inject({ method: 'GET', url: `/api/runs/${id}` });
      assert.equal(res.statusCode, 200, res.body);
      const served = res.json() as RunDetail;
      assert.deepEqual(stored.result, printed, 'runs.result_json is what --json printed');
      assert.deepEqual(served.result, printed, 'the API serves what --json printed');
      assert.deepEqual(served, plain(stored), 'and the rest of the run as the query layer reads it');
      assert.deepEqual(
        [served.verdict, served.summary, served.apply],
        [printed.verdict, printed.summary, printed.apply],
      );
    } finally {
      await app.close();
      db.close();
    }
  });
});
