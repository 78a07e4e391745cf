// Headless Chromium for the HTML report's test: found on the PATH (Debian's
// `chromium` package; .ci/run installs it when it can), or named by
// $CHROMIUM. When none can be had the caller skips its test and says why.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function findChromium(): string | null {
  const env = process.env.CHROMIUM;
  if (env && existsSync(env)) return env;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/** Run headless Chromium on a file URL with extra flags; its stdout (e.g. --dump-dom). */
export function chromium(bin: string, url: string, flags: string[]): { code: number | null; out: string; err: string } {
  const profile = mkdtempSync(join(tmpdir(), 'percpu-chromium-'));
  const r = spawnSync(bin, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', `--user-data-dir=${profile}`, ...flags, url], {
    encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
