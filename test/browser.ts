// Headless Chromium for the HTML report's test: found on the PATH (Debian's
// `chromium` package; .ci/run installs it when it can), or named by
// $CHROMIUM. When none can be had the caller skips its test and says why.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function findChromium(): string | null {
  const env = process.env.CHROMIUM;
  if (env && existsSync(env)) return env;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}
