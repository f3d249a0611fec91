import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, readSecrets, ConfigError } from '../../src/config/load.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

function configFile(yaml: string): { dir: string; path: string } {
  const dir = tempDir();
  const path = join(dir, 'listci.yaml');
  writeFileSync(path, yaml);
  return { dir, path };
}

test('with no config file, everything stays local under ./var', () => {
  const dir = tempDir();
  const cfg = loadConfig({ cwd: dir, env: {} });
  assert.equal(cfg.source, 'embedded defaults');
  assert.equal(cfg.database, join(dir, 'var/listci.db'));
  assert.deepEqual(cfg.mail.source, { type: 'maildir', path: join(dir, 'var/inbox'), pollSeconds: 2 });
  assert.equal(cfg.reply.dryRun, true, 'replies are written as .eml files, not sent');
  assert.equal(cfg.reply.outbox, join(dir, 'var/outbox'));
  assert.equal(cfg.web.host, '127.0.0.1');
});

test("the embedded defaults' list is xen-devel; another list is a config change", () => {
  const defaults = loadConfig({ cwd: tempDir(), env: {} });
  assert.deepEqual(defaults.list.addresses, ['xen-devel@lists.xenproject.org', 'xen-devel@lists.xen.org']);
  assert.equal(defaults.list.subjectPrefix, 'Xen-devel');
  const { path } = configFile('list:\n  addresses: [foo-dev@lists.example.org]\n  subjectPrefix: null\n');
  const other = loadConfig({ path, env: {} });
  assert.deepEqual(other.list.addresses, ['foo-dev@lists.example.org']);
  assert.equal(other.list.subjectPrefix, null);
});

test('--config wins over LISTCI_CONFIG, which wins over ./listci.yaml', () => {
  const a = configFile('list: { name: from-flag }\n');
  const b = configFile('list: { name: from-env }\n');
  writeFileSync(join(a.dir, 'listci.yaml'), 'list: { name: from-cwd }\n');
  assert.equal(
    loadConfig({ path: b.path, cwd: a.dir, env: { LISTCI_CONFIG: a.path } }).list.name,
    'from-env',
  );
  assert.equal(loadConfig({ cwd: a.dir, env: { LISTCI_CONFIG: b.path } }).list.name, 'from-env');
  assert.equal(loadConfig({ cwd: a.dir, env: {} }).list.name, 'from-cwd');
});

test('the shipped example configs are valid', () => {
  const root = new URL('../../config/', import.meta.url).pathname;
  for (const name of ['listci.example.yaml', 'xen-devel.yaml', 'contributor.yaml']) {
    const cfg = loadConfig({
      path: join(root, name),
      env: { LISTCI_IMAP_PASSWORD: 'x', LISTCI_SMTP_PASSWORD: 'y' },
    });
    assert.ok(cfg.build.toolchains.length >= 1, name);
  }
  const xen = loadConfig({
    path: join(root, 'xen-devel.yaml'),
    env: { LISTCI_IMAP_PASSWORD: 'x', LISTCI_SMTP_PASSWORD: 'y' },
  });
  assert.deepEqual(xen.list.addresses.sort(), ['xen-devel@lists.xen.org', 'xen-devel@lists.xenproject.org']);
  assert.ok(xen.build.recipe.configFragment.includes('CONFIG_LIVEPATCH=y'));
  assert.ok(xen.build.recipe.configFragment.includes('CONFIG_ENFORCE_UNIQUE_SYMBOLS=y'));
});

test('the contributor config needs no secret at all', () => {
  const root = new URL('../../config/', import.meta.url).pathname;
  const cfg = loadConfig({ path: join(root, 'contributor.yaml'), env: {} });
  assert.deepEqual(
    cfg.build.toolchains.map((t) => t.name),
    ['gcc-12', 'gcc-11', 'clang-14'],
  );
  assert.equal(cfg.reply.policy, 'never');
});

test('a secret is read from the named file or environment variable', () => {
  const { dir, path } = configFile(`
mail:
  source: { type: imap, host: imap.example.org, user: bot, password: { file: imap.pw } }
reply:
  smtp: { host: smtp.example.org, password: { env: SMTP_PW } }
`);
  writeFileSync(join(dir, 'imap.pw'), 's3cret\n');
  const secrets = readSecrets(loadConfig({ path, env: {} }), { SMTP_PW: 'other' });
  assert.equal(secrets.imapPassword, 's3cret');
  assert.equal(secrets.smtpPassword, 'other');
});

// Each bad config fails with one line that names the key and the problem, and exit code 2.
const bad: [string, string, RegExp][] = [
  ['a wrong type', 'build:\n  makeJobs: "lots"\n', /build\.makeJobs: expected number, got string "lots"$/],
  ['an unknown key', 'reply:\n  polcy: always\n', /reply\.polcy: unknown key$/],
  [
    'an inline secret',
    'reply:\n  smtp: { host: h, password: hunter2 }\n',
    /reply\.smtp\.password: a secret is never inline/,
  ],
  ['a bad enum value', 'reply:\n  policy: sometimes\n', /reply\.policy: .*"always"/],
  [
    'a list address that is not a plain address',
    'list:\n  addresses: [xen-devel@lists.xenproject.org, "Xen <xen-devel@lists.xen.org>"]\n',
    /list\.addresses\.1: "Xen <xen-devel@lists\.xen\.org>" is not a plain mail address/,
  ],
  [
    'a subject prefix written with brackets',
    'list:\n  subjectPrefix: "[Foo-dev]"\n',
    /list\.subjectPrefix: "\[Foo-dev\]": write the one tag the list adds, without brackets/,
  ],
  ['broken YAML', 'reply: [\n', /not valid YAML/],
];

for (const [what, yaml, expected] of bad) {
  test(`a config with ${what} is refused with one line naming the key (exit 2)`, () => {
    const { path } = configFile(yaml);
    assert.throws(
      () => loadConfig({ path, env: {} }),
      (e: unknown) => e instanceof ConfigError && expected.test(e.message),
    );
    const r = runCli(['db', 'status', '--config', path]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got:\n${r.stderr}`);
    assert.match(r.stderr.trim(), expected);
    assert.ok(r.stderr.includes(path), 'names the file');
  });
}

test('a config file that does not exist is an error, not a silent fallback to defaults', () => {
  const r = runCli(['db', 'status', '--config', '/nonexistent/listci.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\/nonexistent\/listci\.yaml: file not found/);
});

// Secrets are read by the command that logs in with them (the daemon), not by loading the config.
const unreadable: [string, string, RegExp][] = [
  [
    'a missing secret file',
    'reply:\n  smtp: { host: smtp.example.org, password: { file: /nonexistent/smtp.pw } }\n',
    /reply\.smtp\.password: secret file not found: \/nonexistent\/smtp\.pw$/,
  ],
  [
    'an unset secret variable',
    'reply:\n  smtp: { host: smtp.example.org, password: { env: LISTCI_TEST_UNSET_PW } }\n',
    /reply\.smtp\.password: environment variable LISTCI_TEST_UNSET_PW is not set$/,
  ],
  [
    'an unset IMAP password variable',
    'mail:\n  source: { type: imap, host: imap.example.org, user: bot, password: { env: LISTCI_TEST_UNSET_PW } }\n',
    /mail\.source\.password: environment variable LISTCI_TEST_UNSET_PW is not set$/,
  ],
];

for (const [what, yaml, expected] of unreadable) {
  test(`with ${what}, the daemon refuses to start with one line naming the key (exit 2)`, () => {
    const { path } = configFile(`${yaml}web: { enabled: false }\n`);
    const config = loadConfig({ path, env: {} });
    assert.throws(
      () => readSecrets(config, {}),
      (e: unknown) => e instanceof ConfigError && expected.test(e.message),
    );
    const r = runCli(['daemon', '--once', '--config', path]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line, got:\n${r.stderr}`);
    assert.match(r.stderr.trim(), expected);
    assert.ok(r.stderr.includes(path), 'names the file');
  });
}

const IMAP_WITH_ENV_PASSWORD = `
mail:
  source: { type: imap, host: imap.example.org, user: bot, password: { env: LISTCI_IMAP_PASSWORD } }
`;

test('listci query runs with the IMAP password variable unset: it never logs in', () => {
  const { dir, path } = configFile(IMAP_WITH_ENV_PASSWORD);
  const migrated = runCli(['db', 'migrate', '--config', path], { cwd: dir });
  assert.equal(migrated.code, 0, migrated.stderr);
  const r = runCli(['query', 'series', '--json', '--config', path], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /LISTCI_IMAP_PASSWORD/);
  assert.doesNotThrow(() => JSON.parse(r.stdout), 'one JSON document on stdout');
});

test('listci serve starts and answers with the IMAP password variable unset', async () => {
  const { dir, path } = configFile(IMAP_WITH_ENV_PASSWORD);
  const help = runCli(['serve', '--help', '--config', path], { cwd: dir });
  assert.equal(help.code, 0, help.stderr);
  assert.equal(runCli(['db', 'migrate', '--config', path], { cwd: dir }).code, 0);

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('LISTCI_')) env[k] = v;
  const bin = new URL('../../bin/listci.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, 'serve', '--config', path, '--port', '0'], { cwd: dir, env });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 30_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /listci: serving (\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then((code) => reject(new Error(`serve exited (${code}):\n${stderr}`)));
    });
    const res = await fetch(`${url.replace(/\/$/, '')}/api/series`);
    assert.equal(res.status, 200);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  assert.doesNotMatch(stderr, /LISTCI_IMAP_PASSWORD/);
});
