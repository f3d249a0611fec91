// Builds a small Xen-shaped build directory with a real compiler and GNU ld: objects under
// common/ and arch/, `ld -r` aggregates (built_in.o) and a linked image, with the duplicate
// shapes the checks must find. Sources live in test/fixtures/checks/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'checks');

export function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `listci-checks-${prefix}-`));
}

export interface TreeOptions {
  cc: 'gcc' | 'clang';
  /** The series adds a second assembler entry.o in arch32/: a new entry.o#restore_all duplicate. */
  series: boolean;
  /** Leave only `.xen-syms.1`, as Xen does when its own duplicate check stops the build. */
  stopAtIntermediate?: boolean;
}

/** Build the tree in a fresh temp dir and return it. */
export function buildTree(opts: TreeOptions): string {
  const build = tempDir(`${opts.cc}-${opts.series ? 'series' : 'base'}`);
  const cc = opts.cc;
  for (const d of ['common', 'arch', 'arch32']) mkdirSync(join(build, d));
  // Relative source names, compiled from the fixture dir, so STT_FILE is the bare file name.
  for (const v of ['1', '2']) {
    run(
      cc,
      [
        '-O2',
        `-DVARIANT=${v}`,
        '-c',
        'static-helper-compiled-twice.c',
        '-o',
        join(build, `common/helper-v${v}.o`),
      ],
      FIXTURES,
    );
  }
  const alias = join(build, 'common/alias.o');
  run(cc, ['-O2', '-c', 'alias-of-static.c', '-o', alias], FIXTURES);
  const handler = /^([0-9a-f]+) t handler$/m.exec(run('nm', [alias], build));
  if (!handler) throw new Error(`no local handler in ${alias}`);
  run('objcopy', ['--add-symbol', `handler=.text:0x${handler[1]},local,function`, alias], build);

  const entries: [string, string][] = [['arch', 'entry64']];
  if (opts.series) entries.push(['arch32', 'entry32']);
  for (const [dir, name] of entries) {
    run(
      cc,
      [`-DENTRY_NAME=${name}`, '-c', 'asm-local-without-file-directive.S', '-o', join(build, dir, 'entry.o')],
      FIXTURES,
    );
    run('ld', ['-r', '-o', 'built_in.o', 'entry.o'], join(build, dir));
  }
  const image = opts.stopAtIntermediate ? '.xen-syms.1' : 'xen-syms';
  const inputs = [
    'common/helper-v1.o',
    'common/helper-v2.o',
    'common/alias.o',
    ...entries.map(([d]) => `${d}/built_in.o`),
  ];
  run('ld', ['-e', 'variant_entry_1', '-o', `${image}.tmp`, ...inputs], build);
  renameSync(join(build, `${image}.tmp`), join(build, image));
  return build;
}
