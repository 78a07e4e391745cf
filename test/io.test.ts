// The input and output primitives under the CLI's contract: suppression
// globs matched without backtracking (and as a regular expression would
// match them), files written all or none, a FIFO nobody reads refused
// rather than waited on, trace lines of bounded length, JSON depth.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import seedrandom from 'seedrandom';
import { globMatch } from '../src/check/known.ts';
import { writeAllAtomic, writeAtomic } from '../src/io/files.ts';
import { jsonDepth, lines } from '../src/io/inputs.ts';

/** The model: the glob as an anchored regular expression (what the matcher replaced; fine on short strings). */
const globRe = (glob: string): RegExp => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);

test('globMatch matches what the glob as a regular expression matches (20,000 random pairs)', (t) => {
  const rng = seedrandom('globs');
  const pick = (s: string): string => s[Math.floor(rng() * s.length)]!;
  let matched = 0;
  for (let i = 0; i < 20_000; i++) {
    const glob = Array.from({ length: Math.floor(rng() * 7) }, () => pick('ab*?_')).join('');
    const s = Array.from({ length: Math.floor(rng() * 8) }, () => pick('ab_')).join('');
    const want = globRe(glob).test(s);
    if (globMatch(glob, s) !== want) {
      t.fail(`${JSON.stringify(glob)} on ${JSON.stringify(s)}: expected ${want}`);
      return;
    }
    if (want) matched++;
  }
  t.true(matched > 2000, `${matched} matches: the pairs are not all misses`);
});

test('globMatch takes no exponential path: 28 stars against function names, matching and not', (t) => {
  // a regular expression of these takes C(41, 14) steps on pcpu_free_area before it gives up
  t.false(globMatch(`${'*'.repeat(28)}Q`, 'pcpu_free_area'));
  t.false(globMatch(`${'*a'.repeat(28)}*z`, 'a'.repeat(5000)));
  t.true(globMatch(`${'*'.repeat(28)}free${'*'.repeat(28)}percpu`, 'free_percpu'));
  t.true(globMatch('pcpu_*', 'pcpu_alloc'));
  t.false(globMatch('pcpu_*', 'xpcpu_alloc'));
});

test('writeAllAtomic writes all the files or none: a failure on the last leaves nothing of the first', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-io-'));
  writeFileSync(join(dir, 'plain'), '');
  const failed = writeAllAtomic([[join(dir, 'a.txt'), 'a'], [join(dir, 'b.txt'), 'b'], [join(dir, 'plain', 'c.txt'), 'c']]);
  t.is(failed?.code, 'ENOTDIR');
  t.deepEqual(readdirSync(dir), ['plain'], 'no file and no temporary left');
  t.is(writeAllAtomic([[join(dir, 'new', 'a.txt'), 'a'], [join(dir, 'b.txt'), 'b']]), null);
  t.true(existsSync(join(dir, 'new', 'a.txt')) && existsSync(join(dir, 'b.txt')));
});

test('a FIFO nobody reads is an error at once (ENXIO), not an open that never returns', (t) => {
  const fifo = join(mkdtempSync(join(tmpdir(), 'percpu-io-')), 'fifo');
  execFileSync('mkfifo', [fifo]);
  t.throws(() => writeAtomic(fifo, 'x'), { code: 'ENXIO' });
});

test('trace lines: split on newlines (CR LF too), the last without one kept, one longer than the limit refused', async (t) => {
  const all = async (chunks: string[], max = 10): Promise<string[]> => {
    const out: string[] = [];
    for await (const l of lines(Readable.from(chunks.map((c) => Buffer.from(c))), max, (n) => new Error(`line ${n} too long`))) out.push(l);
    return out;
  };
  t.deepEqual(await all(['ab\r\ncd', 'e\nf']), ['ab', 'cde', 'f']);
  await t.throwsAsync(all(['0123456789', 'x']), { message: 'line 1 too long' });
  await t.throwsAsync(all(['ok\n', '0123456', '789abc\n']), { message: 'line 2 too long' });
});

test('jsonDepth counts nesting without recursion, and stops early', (t) => {
  t.is(jsonDepth(1), 0);
  t.is(jsonDepth({ a: [1, { b: [] }] }), 4);
  let deep: unknown = 0;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  t.is(jsonDepth(deep, 64), 65);
});
