import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { EXIT } from '../contract.ts';
import { ContainerRunner, findSocket } from '../build/engine.ts';
import { imageFor } from '../build/toolchain-build.ts';
import { configOption, contextFrom, ExitError } from './common.ts';

const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));

export function imagesCommand(): Command {
  const images = new Command('images').description('make and inspect the toolchain container images');

  images
    .command('build')
    .description(
      'build toolchain images from config/toolchains/ on a local Debian base image (no registry needed)',
    )
    .argument('[names...]', 'gcc-12, gcc-11, clang-NN, gcc-12-arm64 (default: gcc-12 gcc-11 clang-14)')
    .option('--rebuild', 'rebuild images that exist')
    .addHelpText('after', '\nExample:\n  listci images build gcc-12 clang-14')
    .action((names: string[], opts: { rebuild?: boolean }) => {
      const r = spawnSync(
        'sh',
        [`${SCRIPTS}build-images.sh`, ...(opts.rebuild ? ['--rebuild'] : []), ...names],
        {
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      if (r.status !== 0) throw new ExitError('images build failed (see above)', EXIT.error);
    });

  configOption(images.command('check'))
    .description("say whether each configured toolchain's image is there")
    .option('--json', 'one JSON object on stdout')
    .addHelpText('after', '\nExample:\n  listci images check --config /etc/listci/xen-devel.yaml')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { config } = contextFrom(opts);
      if (config.build.runner === 'local') {
        console.log('build.runner is local: no images are used');
        return;
      }
      const runner = new ContainerRunner({ socketPath: findSocket(config.build.socket) });
      const rows = [];
      for (const t of config.build.toolchains) {
        const image = imageFor(t);
        rows.push({ toolchain: t.name, image, problem: await runner.checkImage(image) });
      }
      if (opts.json) console.log(JSON.stringify({ images: rows }));
      else
        for (const r of rows)
          console.log(`${r.toolchain.padEnd(12)} ${r.image.padEnd(32)} ${r.problem ?? 'ok'}`);
      if (rows.some((r) => r.problem)) process.exitCode = EXIT.error;
    });
  return images;
}
