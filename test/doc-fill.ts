// A maintainer's tool, not a test: run the console blocks of a doc and write
// what each command printed under it (the temporary directory shown as ".").
// Then mark by hand, with "...", what varies from run to run (free-running
// counts); test/docs.test.ts checks the result.
//   node --import tsx test/doc-fill.ts docs/bugs.md [first-line]

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blocksOf, stepsOf } from './doc-blocks.ts';

const ROOT = realpathSync(new URL('..', import.meta.url).pathname);
const file = process.argv[2]!;
const from = Number(process.argv[3] ?? 0);
let text = readFileSync(join(ROOT, file), 'utf8');
const blocks = blocksOf(file, text).filter((b) => b.lang === 'console' && b.notRun === null && b.line >= from).reverse();
for (const b of blocks) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'percpu-doc-')));
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'npx'), `#!/bin/sh\nif [ "$1" = percpu-stress ]; then shift; exec "${process.execPath}" "${ROOT}/bin/percpu-stress.js" "$@"; fi\nexec npx "$@"\n`);
  chmodSync(join(bin, 'npx'), 0o755);
  symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
  symlinkSync(join(ROOT, 'test'), join(dir, 'test'));
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const body: string[] = [];
  for (const s of stepsOf(b)) {
    const cmd = b.replace.reduce((c, [x, y]) => c.split(x).join(y.split('{root}').join(ROOT)), s.command);
    const r = spawnSync('bash', ['-c', `${cmd} 2>&1`], { cwd: dir, env, encoding: 'utf8' });
    body.push(`$ ${s.command}`, ...r.stdout.split(dir).join('.').replace(/\n+$/, '').split('\n').filter((l, i, a) => !(a.length === 1 && l === '')));
    process.stderr.write(`${file}:${b.line} $ ${s.command} -> exit ${r.status}\n`);
  }
  const lines = text.split('\n');
  let end = b.line;
  while (!/^```\s*$/.test(lines[end]!)) end++;
  lines.splice(b.line, end - b.line, ...body);
  text = lines.join('\n');
}
writeFileSync(join(ROOT, file), text);
