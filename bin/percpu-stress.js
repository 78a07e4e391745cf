#!/usr/bin/env node
// Launcher: re-executes node with tsx's loader resolved from this package, so
// the CLI works from any directory (a bare --import=tsx would be resolved
// relative to the caller's working directory). Ctrl-C reaches the child
// through the terminal's process group; the launcher waits for the child's
// partial report and passes its exit code on.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const tsx = pathToFileURL(require.resolve('tsx')).href;
const cli = join(here, '..', 'src', 'cli.ts');
const child = spawn(process.execPath, ['--import', tsx, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('error', (e) => {
  process.stderr.write(`percpu-stress: cannot start: ${e.message}\n`);
  process.exit(2);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === 'SIGINT' ? 130 : 1));
});
