#!/usr/bin/env node
// Launcher: makes sure the build matches the sources (bin/build.js), then
// runs the built CLI in this process. No child process, no loader hooks:
// signals reach the command directly, and it works from any directory.
import { ensureBuilt } from './build.js';

try {
  await ensureBuilt();
} catch (e) {
  process.stderr.write(`percpu-stress: internal error: the build failed: ${String(e?.message ?? e).split('\n')[0]}\n`);
  process.exit(3);
}
globalThis.__percpuStressBuildChecked = true;
await import('../dist/cli.js');
