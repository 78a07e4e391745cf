// Pool threads run the compiled worker, never through a TypeScript loader:
// the test process itself runs under tsx (AVA's nodeArguments), and the
// options it hands its worker threads must not carry it.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { WORKER_FILE, workerExecArgv } from '../src/run/main/pool.ts';

test('worker threads get the main thread\'s node options without tsx, and run dist/cpu-worker.js', (t) => {
  t.true(process.execArgv.some((a) => a.includes('tsx')), `this test runs under tsx: ${process.execArgv.join(' ')}`);
  t.false(workerExecArgv().some((a) => /tsx|ts-node/.test(a)));
  t.deepEqual(workerExecArgv(['--import', 'tsx', '--cpu-prof', '--require=ts-node/register', '--max-old-space-size=512', '--loader', '/x/tsx/esm.mjs']), ['--cpu-prof', '--max-old-space-size=512']);
  t.regex(WORKER_FILE, /\/dist\/cpu-worker\.js$/);
  // plain JavaScript: no TypeScript syntax left, no loader registration
  const js = readFileSync(WORKER_FILE, 'utf8');
  t.false(/from ['"][^'"]+\.ts['"]/.test(js));
  t.false(js.includes('tsx'));
});
