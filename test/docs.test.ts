// Docs that run: every code block of README.md and docs/*.md (see
// test/doc-blocks.ts for how a block is run and compared). A block whose
// output drifted from what the tool prints fails here, as does docs/cli.md
// when it is not what the option specs generate.

import test from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blocksOf, matches, normalize, stepsOf, type Block } from './doc-blocks.ts';
import { renderCliDoc } from '../src/cli/docs.ts';

const ROOT = realpathSync(new URL('..', import.meta.url).pathname);
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const blocks: Block[] = DOCS.flatMap((f) => blocksOf(f, readFileSync(join(ROOT, f), 'utf8')));

/** A directory to run a block in: `npx percpu-stress` is this checkout; examples/ is there. */
function sandbox(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'percpu-doc-')));
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  const npx = join(bin, 'npx');
  writeFileSync(npx, `#!/bin/sh\nif [ "$1" = percpu-stress ]; then shift; exec "${process.execPath}" "${ROOT}/bin/percpu-stress.js" "$@"; fi\nexec "${join(process.execPath, '..', 'npx')}" "$@"\n`);
  chmodSync(npx, 0o755);
  symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
  symlinkSync(join(ROOT, 'test'), join(dir, 'test'));
  return { dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FORCE_COLOR: '0', NO_COLOR: '1' } };
}

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `${command} 2>&1`], { cwd, env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('every doc has a table of contents, the README stays short and points nowhere outside the repository', (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.true(readme.split('\n').length <= 250, `README.md: ${readme.split('\n').length} lines`);
  for (const f of DOCS) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    t.false(text.includes('../shared'), `${f} points at ../shared`);
    const heads = text.split('\n').filter((l) => /^## /.test(l));
    if (heads.length >= 3) t.regex(text, /\n- \[[^\]]+\]\(#[^)]+\)\n/, `${f}: a table of contents`);
    // every local link resolves
    for (const m of text.matchAll(/\]\((?!https?:|#)([^)#]+)(#[^)]*)?\)/g)) {
      const target = join(ROOT, f.includes('/') ? 'docs' : '', m[1]!);
      t.notThrows(() => readFileSync(target), `${f}: link to ${m[1]}`);
    }
  }
});

test('docs/cli.md is what the option specs generate (regenerate: npm run docs)', (t) => {
  t.is(readFileSync(join(ROOT, 'docs/cli.md'), 'utf8'), renderCliDoc());
});

test('every block is run, or says why not', (t) => {
  const notRun = blocks.filter((b) => b.notRun !== null);
  for (const b of notRun) t.true(b.notRun!.length > 10, `${b.file}:${b.line}: a reason`);
  t.true(blocks.filter((b) => b.lang === 'console').length >= 10, 'the docs show sessions');
  t.true(notRun.length <= 4, notRun.map((b) => `${b.file}:${b.line}`).join(', '));
});

for (const b of blocks) {
  if (b.notRun !== null) continue;
  if (b.sameAs !== null) {
    test(`${b.file}:${b.line} is ${b.sameAs} as it is`, (t) => {
      t.is(`${b.body}\n`, readFileSync(join(ROOT, b.sameAs!), 'utf8'));
    });
    continue;
  }
  if (b.lang !== 'console' && b.lang !== 'sh') continue;
  test.serial(`${b.file}:${b.line} runs as shown`, async (t) => {
    const { dir, env } = sandbox();
    const apply = (c: string): string => b.replace.reduce((s, [a, r]) => s.split(a).join(r.split('{root}').join(ROOT)), c);
    if (b.lang === 'sh') {
      for (const line of b.body.split('\n').filter((l) => l.trim() && !l.startsWith('#'))) {
        const r = await sh(apply(line), dir, env);
        t.is(r.code, b.exit ?? 0, `${line}\n${r.out.slice(-2000)}`);
      }
      return;
    }
    for (const step of stepsOf(b)) {
      const r = await sh(apply(step.command), dir, env);
      const actual = normalize(r.out, dir).replace(/\n+$/, '').split('\n');
      const expected = normalize(step.expected.join('\n'), dir).split('\n');
      const ok = matches(step.expected.length ? expected : [], r.out.trim() === '' ? [] : actual);
      t.true(ok, `$ ${step.command}\n--- shown in ${b.file}:${b.line}\n${step.expected.join('\n')}\n--- printed (exit ${r.code})\n${r.out}`);
    }
  });
}

test('the doc blocks parser and matcher are not vacuous', (t) => {
  const bs = blocksOf('x.md', 'a\n<!-- doc: replace "15s" "1s" -->\n```console\n$ echo hi\nhi\n```\n');
  t.is(bs.length, 1);
  t.deepEqual(bs[0]!.replace, [['15s', '1s']]);
  t.deepEqual(stepsOf(bs[0]!), [{ command: 'echo hi', expected: ['hi'] }]);
  t.true(matches(['a ... c', '...', 'z'], ['a b c', 'x', 'y', 'z']));
  t.false(matches(['a ... c'], ['a b d']));
  t.false(matches(['a'], ['a', 'b']));
  t.is(normalize('in 0.2 s, 3.5 runs/s, repro-0123456789ab.json', '/tmp/x'), 'in <time>, <rate>, repro-<hash>.json');
  t.throws(() => blocksOf('y.md', '<!-- doc: bogus -->\n```sh\nx\n```\n'), { message: /unknown doc directive/ });
});
