import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/load.ts';

// `listci daemon --demo`: the embedded defaults plus a bundled tree and a mailbox holding a
// good and a bad series, so a newcomer sees the whole loop with no account anywhere.
// The tree is bundled and trusted, so it builds with the local runner (host processes).

const DEMO_DIR = fileURLToPath(new URL('../../demo/', import.meta.url));

export interface Demo {
  config: Config;
  /** What the demo put in the mailbox this time (0 when it was seeded before). */
  seeded: number;
  toolchains: string[];
}

export function prepareDemo(base: Config): Demo {
  const dir = join(base.workDir, 'demo');
  const tree = join(dir, 'tree');
  if (!existsSync(join(tree, '.git'))) {
    mkdirSync(dir, { recursive: true });
    execFileSync('bash', [join(DEMO_DIR, 'make-repo.sh'), tree], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const inbox = base.mail.source.type === 'maildir' ? base.mail.source.path : join(base.workDir, 'inbox');
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(join(inbox, sub), { recursive: true });
  let seeded = 0;
  const marker = join(dir, 'inbox-seeded');
  if (!existsSync(marker)) {
    for (const f of readdirSync(join(DEMO_DIR, 'inbox')).sort()) {
      copyFileSync(join(DEMO_DIR, 'inbox', f), join(inbox, 'new', `demo-${f}`));
      seeded++;
    }
    writeFileSync(marker, new Date().toISOString());
  }
  const compilers = ['gcc', 'clang'].filter(
    (cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0,
  );
  const toolchains = compilers.map((cc) => ({
    name: cc,
    image: null,
    cc,
    hostcc: null,
    makeArgs: [],
    configFragment: [],
  }));
  const config: Config = {
    ...base,
    list: { name: 'demo-devel', addresses: ['demo-devel@lists.example.org'], subjectPrefix: 'demo-devel' },
    mail: { source: { type: 'maildir', path: inbox, pollSeconds: 1 } },
    repo: { ...base.repo, url: tree, mirror: join(dir, 'mirror.git'), defaultBranch: 'main' },
    build: { ...base.build, runner: 'local', toolchains },
    reply: { ...base.reply, dryRun: true, from: 'listci demo <listci@localhost>' },
  };
  return { config, seeded, toolchains: compilers };
}
