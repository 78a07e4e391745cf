#!/usr/bin/env node
// Launcher: re-executes node with tsx's loader resolved from this package, so
// the CLI works from any directory (a bare --import=tsx would be resolved
// relative to the caller's working directory).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const tsx = pathToFileURL(require.resolve('tsx')).href;
const cli = join(here, '..', 'src', 'cli.ts');
const r = spawnSync(process.execPath, ['--import', tsx, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
if (r.error) {
  process.stderr.write(`percpu-stress: cannot start: ${r.error.message}\n`);
  process.exit(2);
}
process.exit(r.status ?? (r.signal === 'SIGINT' ? 130 : 1));
