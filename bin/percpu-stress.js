#!/usr/bin/env node
// Launcher: makes sure the build matches the sources (bin/build.js), then
// runs the built CLI in this process. No child process, no loader hooks:
// signals reach the command directly, and it works from any directory.

// a working directory that was deleted under the shell: every relative path (and esbuild, loaded by
// the build check) would fail on it, so it is one line here, before anything is loaded
try {
  process.cwd();
} catch (e) {
  process.stderr.write(`percpu-stress: the working directory no longer exists (${e?.code ?? 'gone'}): cd to one that does\n`);
  process.exit(2);
}

try {
  const { ensureBuilt } = await import('./build.js');
  await ensureBuilt();
} catch (e) {
  process.stderr.write(`percpu-stress: internal error: the build failed: ${String(e?.message ?? e).split('\n')[0]}\n`);
  process.exit(3);
}
globalThis.__percpuStressBuildChecked = true;
await import('../dist/cli.js');
