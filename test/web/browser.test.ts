// A maintainer's visit in a real headless Chromium: list, filter by author, open a series,
// find the duplicate symbol. Screenshots land in test-output/ for a human to look at.
import { skipUnlessCi } from '../helpers/prerequisite.ts';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startWebServer, type WebServer } from '../../src/web/server.ts';
import { fillDbWithChecks, type FilledDb } from '../helpers/fill-db.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let dir: string;
let filled: FilledDb;
let server: WebServer;
let browser: BrowserContext;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'listci-browser-'));
  filled = await fillDbWithChecks(join(dir, 'db', 'listci.db'));
  server = await startWebServer({
    dbPath: filled.dbPath,
    host: '127.0.0.1',
    port: 0,
    workDir: filled.workDir,
  });
  // A fresh profile each run: playwright takes the user data dir as a parameter, not an argument.
  browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test(
  'list, filter by author, open the series, see the new duplicate symbol',
  { skip: skipUnlessCi(!existsSync(CHROMIUM) && `${CHROMIUM} not installed (apt-get install chromium)`) },
  async () => {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${server.url}/`);
    await assert.doesNotReject(page.locator('table#series').waitFor());
    assert.equal(await page.locator('tr.series').count(), 5);

    // The hostile subject is plain text on the page and ran nothing.
    const titles = await page.locator('td.title a').allTextContents();
    assert.ok(
      titles.some((t) => t.startsWith('<script>alert("xss")</script>')),
      JSON.stringify(titles),
    );
    assert.ok((await page.locator('td.author').allTextContents()).some((a) => a.includes('<img src=x')));
    assert.equal(await page.locator('td img, td script, td b').count(), 0);
    assert.equal(await page.locator('svg.chart').count(), 2);
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/web.png', fullPage: true });

    await page.fill('input[name="author"]', 'Roger');
    await Promise.all([page.waitForURL(/author=Roger/), page.click('button[type="submit"]')]);
    assert.equal(await page.locator('tr.series').count(), 1);
    assert.equal(await page.locator('td.title a').textContent(), filled.series.hvm.title);

    await Promise.all([page.waitForURL(/\/series\/\d+$/), page.click('td.title a')]);
    assert.equal(await page.locator('h2.series-title').textContent(), filled.series.hvm.title);
    assert.deepEqual(await page.locator('#v1 .symbol').allTextContents(), ['hvm.c#cpu_callback']);
    assert.equal(await page.locator('#v2 .symbol').count(), 0, 'v2 fixed it');
    assert.match((await page.locator('#v1 details.reply pre').textContent()) ?? '', /hvm\.c#cpu_callback/);
    await page.screenshot({ path: 'test-output/web-series.png', fullPage: true });
    assert.deepEqual(dialogs, [], 'no script ran');
  },
);
