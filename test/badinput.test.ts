// The hostile cases of issue 30, one test per class: an output named on an
// input or on another output (through a link, by the name of a repro --out
// will receive, by a lockdep file's name), inputs that are FIFOs, devices,
// huge or deeply nested, suppressions that would backtrack, scenario files
// that block, throw from a getter or exit, stdout on a full device, a
// deleted working directory, a missing TMPDIR. Each must end at once with
// exit 2 and one line, and leave every file as it was. Every CLI call is
// killed after a minute as protection against a hang, and a test fails if
// that ever had to happen (no outcome depends on how fast the host is).

import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const LIB = new URL('../scenarios/lib/scenario.ts', import.meta.url).pathname;
/** Protection only: a call still running after this is a hang, and fails its test. */
const HANG_MS = 60_000;

interface Out { code: number | null; out: string; err: string; hung: boolean }

function cli(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; stdout?: number | 'pipe'; stdin?: number | 'ignore' } = {}): Promise<Out> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd ?? '/', env: o.env ?? process.env, stdio: [o.stdin ?? 'ignore', o.stdout ?? 'pipe', 'pipe'] });
    let out = '', err = '', hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, HANG_MS);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, hung });
    });
  });
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'percpu-bad-'));
const digest = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

/** Exit 2 within the protection time, one line on stderr matching `re`, no stack trace. */
function badInput(t: import('ava').ExecutionContext, r: Out, re: RegExp, what = ''): void {
  t.false(r.hung, `${what}: hung`);
  t.is(r.code, 2, `${what}: stdout: ${r.out.slice(-400)}\nstderr: ${r.err}`);
  t.is(r.err.trim().split('\n').length, 1, `${what}: ${r.err}`);
  t.regex(r.err, re, what);
  t.notRegex(r.err + r.out, /\n\s+at .*\(.*:\d+:\d+\)/, what);
}

/** A repro of single-mutex on irq-free (its name is fixed: repro-bafdef738afe.json). */
async function repro(dir: string): Promise<string> {
  const r = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '3', '--shrink-budget', '10m', '--out', dir, '--quiet']);
  if (r.code !== 1) throw new Error(`fuzz: ${r.code} ${r.err}`);
  return join(dir, readdirSync(dir).find((f) => f.startsWith('repro-'))!);
}

test('an output on an input, or on another output, is refused before anything runs and every file is left as it was', async (t) => {
  const dir = tmp();
  const r = await repro(dir);
  const shard = join(dir, 'a.json');
  t.is((await cli(['fuzz', 'irq-free', '--runs', '2', '--shard', '1/2', '--json', shard, '--out', join(dir, 'out'), '--quiet'])).code, 0);
  const scenario = join(dir, 's.ts');
  writeFileSync(scenario, `import { builder, type Scenario } from '${LIB}';\nexport default { name: 'plain', description: 'd', config: (cpus: number) => ({ cpus }), program(ctx) { const b = builder(this.name, ctx); while (b.length < ctx.ops) b.alloc(8, 8); return b.build(); } } as Scenario;\n`);
  const supp = join(dir, 's.supp');
  writeFileSync(supp, 'data-race:pcpu_*\n');
  const link = join(dir, 'link.json');
  symlinkSync(r, link);
  const before = [r, shard, scenario, supp].map(digest);
  const cases: [string[], RegExp][] = [
    ...['--json', '--html', '--trace-out', '--ktap', '--junit'].map((o): [string[], RegExp] => [['replay', r, o, r], new RegExp(`${o} .* is the repro file .*: an output never replaces an input`)]),
    [['replay', r, '--json', link], /--json .*link\.json is the repro file/],
    [['merge', shard, '--json', shard, '--out', dir], /--json .*a\.json is the shard file/],
    [['run', scenario, '--ops', '10', '--json', scenario], /--json .*s\.ts is the scenario file/],
    [['run', 'irq-free', '--ops', '10', '--suppressions', supp, '--ktap', supp], /--ktap .*s\.supp is the suppressions file/],
    [['fuzz', scenario, '--runs', '1', '--junit', scenario, '--out', dir], /--junit .*s\.ts is the scenario file/],
    // the names fuzz and merge give the repros they write into --out
    [['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '1', '--shrink-budget', '10m', '--json', r, '--out', dir], /--json .*repro-bafdef738afe\.json has the name of a repro file in --out/],
    [['fuzz', 'irq-free', '--runs', '1', '--junit', join(dir, 'repro-0123456789ab.json'), '--out', dir], /has the name of a repro file in --out/],
    [['merge', shard, '--ktap', join(dir, 'out', 'repro-0123456789ab.json'), '--out', join(dir, 'out')], /has the name of a repro file in --out/],
    // the files --lockdep-out will receive, by name
    [['run', 'irq-free', '--ops', '10', '--lockdep-out', dir, '--json', join(dir, 'irq-free-seed1.lockdep')], /--json and --lockdep-out name the same file/],
    [['replay', r, '--lockdep-out', dir, '--json', join(dir, `irq-free-seed${(JSON.parse(readFileSync(r, 'utf8')) as { seed: number }).seed}.lockdep.dot`)], /--json and --lockdep-out name the same file/],
  ];
  for (const [args, re] of cases) badInput(t, await cli(args), re, args.join(' '));
  t.deepEqual([r, shard, scenario, supp].map(digest), before, 'no input changed');
  t.false(existsSync(join(dir, 'repro-0123456789ab.json')));
});

test('output folders are made when missing, and a file in the way of one is one line', async (t) => {
  const dir = tmp();
  const r = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '1', '--shrink-budget', '10m', '--out', join(dir, 'a/b/repros'), '--json', join(dir, 'c/d/f.json'), '--quiet']);
  t.is(r.code, 1, r.err);
  t.true(existsSync(join(dir, 'a/b/repros/repro-bafdef738afe.json')));
  t.true(existsSync(join(dir, 'c/d/f.json')));
  const clean = await cli(['run', 'irq-free', '--cpus', '2', '--ops', '20', '--lockdep-out', join(dir, 'ld/x'), '--quiet']);
  t.is(clean.code, 0, clean.err);
  t.true(existsSync(join(dir, 'ld/x/irq-free-seed1.lockdep')));
  writeFileSync(join(dir, 'file'), '');
  badInput(t, await cli(['fuzz', 'irq-free', '--runs', '1', '--out', join(dir, 'file/sub')]), /--out: cannot write to .*file\/sub: .*file is not a directory/);
});

test('a repro whose name is taken in --out loses nothing: exit 2, one line, the finding on stdout and in the JSON result', async (t) => {
  const dir = tmp();
  mkdirSync(join(dir, 'repro-bafdef738afe.json'));
  const json = join(dir, 'f.json');
  const r = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '3', '--shrink-budget', '10m', '--out', dir, '--json', json, '--junit', join(dir, 'f.xml'), '--quiet']);
  badInput(t, r, /--out: cannot write repro-bafdef738afe\.json: EISDIR in .* \(the --json result holds it\)/);
  t.regex(r.out, /BUG: sleeping function called from invalid context/);
  t.regex(r.out, /repro: not written \(cannot write repro-bafdef738afe\.json: EISDIR\); the --json result holds it/);
  const doc = JSON.parse(readFileSync(json, 'utf8')) as { findings: { repro: { schedule: string } | null; reproPath: string }[] };
  t.is(doc.findings[0]!.reproPath, '');
  t.truthy(doc.findings[0]!.repro?.schedule);
  t.regex(readFileSync(join(dir, 'f.xml'), 'utf8'), /<failure /);
});

test('inputs that would block or never end: FIFOs, /dev/zero, a line without end, deep nesting, a huge file', async (t) => {
  const dir = tmp();
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const long = join(dir, 'long.jsonl');
  writeFileSync(long, 'x'.repeat(200_000));
  const deep = join(dir, 'deep.json');
  writeFileSync(deep, '{"tool":"percpu-stress","config":' + '['.repeat(5000) + ']'.repeat(5000) + '}');
  const huge = join(dir, 'huge.supp');
  writeFileSync(huge, '#'.repeat(2 * 1024 * 1024));
  const cases: [string[], RegExp][] = [];
  for (const [what, src] of [['FIFO \\(a named pipe\\)', fifo], ['device', '/dev/zero']] as const) {
    cases.push(
      [['replay', src], new RegExp(`is a ${what}, not a regular file: a repro file must be a regular file`)],
      [['merge', src], new RegExp(`is a ${what}, not a regular file: a shard file must be a regular file`)],
      [['run', 'irq-free', '--ops', '10', '--suppressions', src], new RegExp(`--suppressions: .* is a ${what}, not a regular file`)],
      [['fuzz', 'irq-free', '--runs', '1', '--suppressions', src], new RegExp(`--suppressions: .* is a ${what}, not a regular file`)],
      [['trace', src], new RegExp(`is a ${what}, not a regular file: a trace must be a regular file`)],
      [['run', src], /scenario file .* not a regular file/],
    );
  }
  cases.push(
    [['trace', long], /long\.jsonl:1: a line longer than 64 KB: not a trace/],
    [['replay', deep], /deep\.json: arrays and objects nested more than 64 deep: not a repro file/],
    [['merge', deep], /deep\.json: arrays and objects nested more than 64 deep: not a shard file/],
    [['run', 'irq-free', '--suppressions', huge], /huge\.supp is 2 MB: a suppressions file is at most 1 MB/],
  );
  for (const [args, re] of cases) badInput(t, await cli(args), re, args.join(' '));
  // stdin is read as a stream, by lines of bounded length
  const zero = await cli(['trace', '-'], { stdin: openSync('/dev/zero', 'r') });
  badInput(t, zero, /-:1: a line longer than 64 KB: not a trace/, 'trace - < /dev/zero');
});

test('a suppressions pattern that would backtrack is matched in bounded time, and still means what it says', async (t) => {
  const dir = tmp();
  // 28 stars and a last letter that never comes: a regular expression of it tries every way of
  // cutting a function's name in 28 pieces (C(41, 14) for pcpu_free_area) before it gives up
  const never = join(dir, 'never.supp');
  writeFileSync(never, `sleep-in-atomic:${'*'.repeat(28)}Q\n`);
  const r = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '3', '--shrink-budget', '10m', '--out', dir, '--quiet', '--suppressions', never]);
  t.false(r.hung);
  t.is(r.code, 1, r.err);
  t.regex(r.out, /signature: sleep-in-atomic \[no locks\] free_percpu/);
  // and a pattern of as many stars that matches the function suppresses that finding
  const match = join(dir, 'match.supp');
  writeFileSync(match, `sleep-in-atomic:${'*'.repeat(28)}free${'*'.repeat(28)}percpu\n`);
  const m = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '3', '--shrink-budget', '10m', '--out', dir, '--quiet', '--suppressions', match]);
  t.false(m.hung);
  t.notRegex(m.out, /signature: sleep-in-atomic/);
});

const GOOD = (body: string): string => `import { builder, type Scenario } from '${LIB}';\n${body}`;
const PROG = 'program(ctx) { const b = builder(this.name, ctx); while (b.length < ctx.ops) b.alloc(8, 8); return b.build(); }';

test('scenario files that block without using CPU time, throw from a getter, exit, or return mistyped configs: one line saying which', async (t) => {
  const dir = tmp();
  const file = (name: string, body: string): string => {
    const f = join(dir, name);
    writeFileSync(f, GOOD(body));
    return f;
  };
  const cases: [string, RegExp][] = [
    [file('wait.ts', `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\nexport default { name: 'w', description: 'd', config: (cpus: number) => ({ cpus }), ${PROG} } as Scenario;`),
      /wait\.ts: loading it was blocked for 10 s without using CPU time \(Atomics\.wait, a synchronous child process/],
    [file('sleep.ts', `require('node:child_process').execSync('sleep 600');\nexport default { name: 'w', description: 'd', config: (cpus: number) => ({ cpus }), ${PROG} } as Scenario;`),
      /sleep\.ts: loading it was blocked for 10 s without using CPU time/],
    [file('getter.ts', `export default { get name(): string { throw new Error('no name'); }, description: 'd', config: (cpus: number) => ({ cpus }), ${PROG} } as unknown as Scenario;`),
      /getter\.ts: loading it threw: no name$/m],
    [file('exit.ts', `process.exit(3);\nexport default { name: 'w', description: 'd', config: (cpus: number) => ({ cpus }), ${PROG} } as Scenario;`),
      /exit\.ts: loading it ended its thread \(process\.exit/],
    [file('nodes.ts', `export default { name: 'w', description: 'd', config: (cpus: number) => ({ cpus, nodes: 5 }), ${PROG} } as unknown as Scenario;`),
      /nodes\.ts: config\(2, 1\) returned nodes: "5", expected a list of integers, one per CPU/],
    [file('cpus.ts', `export default { name: 'w', description: 'd', config: () => ({ cpus: 2 }), ${PROG} } as Scenario;`),
      /cpus\.ts: config\(4, 1\) returned cpus: 2: a scenario runs on the CPUs it is given \(--cpus\)/],
  ];
  // side by side: the two that block take their 10 s at once
  const results = await Promise.all(cases.map(([f]) => cli(['run', f, '--ops', '20'])));
  results.forEach((r, i) => badInput(t, r, cases[i]![1], cases[i]![0]));
  t.false(execFileSync('ps', ['-eo', 'args']).toString().includes('sleep 600'), 'the blocked child process was stopped with its thread');
});

test('fuzz --budget bounds a scenario file that never returns (exit 5 at the budget, not the 10 s CPU limit)', async (t) => {
  const f = join(tmp(), 'loop.ts');
  writeFileSync(f, GOOD(`export default { name: 'loop', description: 'd', config: (cpus: number) => ({ cpus }), program() { for (;;) {} } } as unknown as Scenario;`));
  // its first program() call: loading it calls program() as a trial, under the same budget
  // (a shrink budget far beyond the CPU limit: only the fuzz budget can end it before that limit)
  const r = await cli(['fuzz', f, '--budget', '2s', '--shrink-budget', '10m']);
  t.false(r.hung);
  t.is(r.code, 5, r.err);
  t.regex(r.err, /was still running when the budget ended: nothing was proven/);
});

test('file-system and stdout failures are one line and exit 2: /dev/full, a deleted working directory, a missing TMPDIR', async (t) => {
  const dir = tmp();
  const r = await repro(dir);
  const full = openSync('/dev/full', 'w');
  for (const args of [['list'], ['help'], ['fuzz', '--help'], ['run', 'irq-free', '--cpus', '2', '--ops', '20'], ['replay', r], ['single', '--ops', '100']]) {
    badInput(t, await cli(args, { stdout: full }), /^percpu-stress: cannot write to stdout: ENOSPC$/m, `${args.join(' ')} > /dev/full`);
  }
  // an output that is a pipe: /dev/stdout into one is written through; a FIFO nobody reads is one line, not a wait
  const piped = await cli(['run', 'irq-free', '--cpus', '2', '--ops', '20', '--quiet', '--json', '/dev/stdout']);
  t.is(piped.code, 0, piped.err);
  t.regex(piped.out, /"tool": "percpu-stress"/);
  const fifo = join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  badInput(t, await cli(['run', 'irq-free', '--cpus', '2', '--ops', '20', '--quiet', '--json', fifo]), /^percpu-stress: --json: cannot write .*out\.fifo: ENXIO$/m, 'a FIFO nobody reads');
  // repro paths below the working directory print as ./repro-..., as the README shows them
  const here = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '1', '--shrink-budget', '10m', '--quiet'], { cwd: dir });
  t.regex(here.out, /^repro: \.\/repro-bafdef738afe\.json$/m);
  const gone = join(dir, 'gone');
  mkdirSync(gone);
  // the shell enters it and removes it, then becomes the CLI in it
  const g = spawnSync('sh', ['-c', `cd "${gone}" && rmdir "${gone}" && exec "${process.execPath}" "${CLI}" list`], { encoding: 'utf8', timeout: HANG_MS });
  badInput(t, { code: g.status, out: g.stdout, err: g.stderr, hung: g.signal !== null }, /^percpu-stress: the working directory no longer exists \(ENOENT\): cd to one that does$/m, 'deleted cwd');
  const sc = join(dir, 's.ts');
  writeFileSync(sc, GOOD(`export default { name: 'plain', description: 'd', config: (cpus: number) => ({ cpus }), ${PROG} } as Scenario;`));
  const noTmp = await cli(['run', sc, '--ops', '20', '--cpus', '2', '--quiet'], { env: { ...process.env, TMPDIR: join(dir, 'no-such-tmp') } });
  t.is(noTmp.code, 0, noTmp.err);
});

/** A full file system: a 64 KB tmpfs filled up (root can mount one; elsewhere the test says it was skipped). */
function fullFs(): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (r.status !== 0) return null;
  spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'fill')}`, 'bs=1k', 'count=64']);
  return dir;
}
const FULL = fullFs();
if (FULL === null) {
  test.skip('a full file system under --out and --json (skipped: no tmpfs could be mounted here; it needs root)', () => {});
} else {
  test.after.always(() => {
    spawnSync('umount', [FULL]);
  });
  test('a full file system (ENOSPC) under --out and --json: one line, exit 2, nothing half written, the finding kept', async (t) => {
    const dir = tmp();
    const out = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '2', '--shrink-budget', '10m', '--quiet', '--out', FULL, '--json', join(dir, 'f.json')]);
    badInput(t, out, /--out: cannot write repro-bafdef738afe\.json: ENOSPC in .* \(the --json result holds it\)/);
    t.truthy((JSON.parse(readFileSync(join(dir, 'f.json'), 'utf8')) as { findings: { repro: unknown }[] }).findings[0]!.repro);
    const json = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '2', '--shrink-budget', '10m', '--quiet', '--out', dir, '--json', join(FULL, 'x.json'), '--junit', join(dir, 'x.xml')]);
    badInput(t, json, /^percpu-stress: --json: cannot write .*x\.json: ENOSPC$/m);
    t.true(existsSync(join(dir, 'x.xml')), 'the other outputs are written');
    t.deepEqual(readdirSync(FULL), ['fill'], 'no half-written file or temporary left');
  });
}

test('option values: size-mix names are the mixes, not Object\'s own names; alignments say what is wrong; a newline in a path stays on one line', async (t) => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    badInput(t, await cli(['run', 'irq-free', '--ops', '10', '--sizes', name]), /--sizes: '.*' is neither a mix \(std, tiny, odd, mixed\) nor SIZE\[:ALIGN\]/, name);
  }
  badInput(t, await cli(['run', 'irq-free', '--ops', '10', '--sizes', '8:2147483648']), /alignment 2147483648 is larger than the page size \(4096\)/);
  badInput(t, await cli(['run', 'irq-free', '--ops', '10', '--sizes', '8:12']), /alignment 12 is not a power of two/);
  badInput(t, await cli(['replay', '/tmp/a\nb.json']), /cannot read \/tmp\/a\\nb\.json: ENOENT/);
  // 64 jobs of 64 CPUs would start 4,160 threads (14 GB here before it was killed): refused up front
  badInput(t, await cli(['fuzz', 'irq-free', '--jobs', '64', '--cpus', '64', '--runs', '1']), /--jobs 64 x \(64 CPUs \+ the kworker\) = 4,160 worker threads: at most 260/);
});
