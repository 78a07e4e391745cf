// Hostile inputs, one case per way the contract was once broken (issue 19's
// list) and per input class: bad input is exit 2 with one line on stderr and
// no stack; nothing already found is lost; no output is replaced or half
// written; nothing hangs.

import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSchedule } from '../src/sched/schedule.ts';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const LIB = new URL('../scenarios/lib/scenario.ts', import.meta.url).pathname;

interface Out { code: number | null; out: string; err: string }

/**
 * The CLI as a child process, awaited: a test waiting for it leaves the event loop free, so the
 * results of the tests before it are reported while it runs (a synchronous spawn would hold every
 * result of this file back until the last test ends, and a loaded host could then time AVA out).
 */
function cli(args: string[], cwd = '/'): Promise<Out> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'percpu-in-'));

/** Exit 2, one line on stderr matching `re`, no stack trace anywhere. */
function badInput(t: import('ava').ExecutionContext, r: Out, re: RegExp): void {
  t.is(r.code, 2, `stdout: ${r.out.slice(-400)}\nstderr: ${r.err}`);
  t.is(r.err.trim().split('\n').length, 1, r.err);
  t.regex(r.err, re);
  t.notRegex(r.err + r.out, /\n\s+at .*\(.*:\d+:\d+\)/);
}

/** A fuzz shard with a finding, to break in different ways. */
async function shardWithFinding(dir: string): Promise<Record<string, unknown>> {
  const f = join(dir, 's.json');
  const r = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '5', '--shrink-budget', '10m', '--shard', '1/2', '--json', f, '--out', dir, '--quiet']);
  if (r.code !== 1) throw new Error(`fuzz: ${r.code} ${r.err}`);
  return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
}

test.serial('merge: a bad embedded repro, a huge shard count, mistyped config, tallies and counts are exit 2 naming the field (2, 3, 4)', async (t) => {
  const dir = tmp();
  const good = await shardWithFinding(dir);
  const cases: [string, (d: any) => void, RegExp][] = [
    ['schedule', (d) => (d.findings[0].repro.schedule = '!!'), /findings\[0\]\.repro\.schedule must match pattern/],
    ['count', (d) => (d.shard.count = 1_000_000_000), /shard\.count must be <= 100000/],
    ['cpus', (d) => (d.config.cpus = '3'), /config\.cpus must be integer/],
    ['depth', (d) => delete d.config.depth, /config must have required property 'depth'/],
    ['byStrategy', (d) => (d.byStrategy = { pct: 'many' }), /byStrategy\.pct must be integer/],
    ['known', (d) => (d.known = { 'km-unzeroed': -1 }), /known\.km-unzeroed must be >= 0/],
    ['program', (d) => (d.findings[0].repro.programs[0][0] = [99, 0, 0, 0]), /op 0 \(op 99\): unknown code 99/],
  ];
  for (const [name, breakIt, re] of cases) {
    const d = structuredClone(good);
    breakIt(d);
    const f = join(dir, `bad-${name}.json`);
    writeFileSync(f, JSON.stringify(d));
    badInput(t, await cli(['merge', f, '--out', dir]), re);
  }
});

test.serial('a clean partial merge exits 6 unless --allow-partial, and says why in every output', async (t) => {
  const dir = tmp();
  const f = join(dir, 's.json');
  t.is((await cli(['fuzz', 'irq-free', '--runs', '4', '--shard', '1/2', '--json', f, '--out', dir, '--quiet'])).code, 0);
  const m = await cli(['merge', f, '--out', dir, '--ktap', join(dir, 'm.tap'), '--junit', join(dir, 'm.xml')]);
  t.is(m.code, 6, m.err);
  t.regex(m.out, /shard 2 of 2 is missing: the merge is partial \(exit 6; --allow-partial to accept it\)/);
  t.regex(readFileSync(join(dir, 'm.tap'), 'utf8'), /^# partial: shard 2 of 2 is missing$/m);
  // a failed case and a failed KTAP parent, as the exit code 6 says (kunit.py exits 1 on it)
  t.regex(readFileSync(join(dir, 'm.xml'), 'utf8'), /<failure message="partial merge: shard 2 of 2 is missing" type="partial-merge">/);
  t.regex(readFileSync(join(dir, 'm.tap'), 'utf8'), /^not ok 1 percpu-stress fuzz$/m);
  // --allow-partial: the missing runs are a skipped case, the parent ok
  t.is((await cli(['merge', f, '--out', dir, '--allow-partial', '--junit', join(dir, 'm.xml'), '--ktap', join(dir, 'm.tap')])).code, 0);
  t.regex(readFileSync(join(dir, 'm.xml'), 'utf8'), /<skipped message="partial merge: shard 2 of 2 is missing">partial merge: shard 2 of 2 is missing<\/skipped>/);
  t.regex(readFileSync(join(dir, 'm.tap'), 'utf8'), /^ok 1 percpu-stress fuzz # SKIP partial report$/m);
});

const GOOD = (body: string): string => `import { builder, type Scenario } from '${LIB}';\n${body}`;
const PROG = 'const b = builder(this.name, ctx); while (b.length < ctx.ops) b.alloc(8, 8); return b.build();';

test.serial('scenario files that throw for one seed, CPU count or op count: exit 2 with one line, what ran before it kept (5)', async (t) => {
  const dir = tmp();
  const seed = join(dir, 'seed.ts');
  writeFileSync(seed, GOOD(`export default { name: 'seedy', description: 'd', config: (cpus: number) => ({ cpus }), program(ctx) { if (ctx.seed === 2) throw new Error('not seed 2'); ${PROG} } } as Scenario;`));
  badInput(t, await cli(['run', seed, '--seed', '2', '--ops', '50']), /scenario file .*seed\.ts: program\(cpu 0 of 4, seed 2, 50 ops\) threw: not seed 2/);
  // seed 1 ran, seed 2 stopped the command: what ran is on stdout, and no report file replaces the one there
  const json = join(dir, 'r.json');
  writeFileSync(json, 'old');
  const r = await cli(['run', seed, '--seeds', '1..3', '--ops', '50', '--json', json]);
  badInput(t, r, /threw: not seed 2/);
  t.regex(r.out, /seedy: clean \(cpus 4, seed 1/);
  t.regex(r.out, /stopped on bad input after 1 run: the report is partial, and no report file was written/);
  t.is(readFileSync(json, 'utf8'), 'old');
  const cpus = join(dir, 'cpus.ts');
  writeFileSync(cpus, GOOD(`export default { name: 'cpusy', description: 'd', config: (cpus: number) => { if (cpus === 4) throw new Error('no 4'); return { cpus }; }, program(ctx) { ${PROG} } } as Scenario;`));
  badInput(t, await cli(['run', cpus, '--cpus', '4', '--ops', '50']), /config\(4, 1\) threw: no 4/);
  t.is((await cli(['run', cpus, '--cpus', '3', '--ops', '50'])).code, 0);
  const ops = join(dir, 'ops.ts');
  writeFileSync(ops, GOOD(`export default { name: 'opsy', description: 'd', config: (cpus: number) => ({ cpus }), program(ctx) { if (ctx.ops === 30) throw new Error('not 30'); ${PROG} } } as Scenario;`));
  const fz = await cli(['fuzz', ops, '--runs', '3']);
  badInput(t, fz, /program\(cpu 0 of 3, seed \d+, 30 ops\) threw: not 30/);
  t.regex(fz.out, /stopped on bad input after 0 runs; the report is partial/);
});

// Each of these burns up to 10 s of CPU time in a scenario file's thread, so each is a test of its
// own, reported as it ends.
const LOOPY = `export default { name: 'loopy', description: 'd', config: (cpus: number) => ({ cpus }), program(ctx) { while (ctx.seed === 2) {} ${PROG} } } as Scenario;`;

test.serial('a scenario file that never returns from its import is stopped after 10 s of its own CPU time: bad input (6)', async (t) => {
  const atImport = join(tmp(), 'import.ts');
  writeFileSync(atImport, GOOD(`for (;;) {}\nexport default { name: 'x', description: 'd', config: () => ({}), program() { return new Int32Array(0); } } as Scenario;`));
  badInput(t, await cli(['run', atImport]), /scenario file .*import\.ts: loading it did not return within 10 s of CPU time: an endless loop$/m);
});

test.serial('a program() that never returns for one seed: the command\'s budget ending inside the call is no verdict (exit 5), never a hang (6)', async (t) => {
  const seed2 = join(tmp(), 'seed2.ts');
  writeFileSync(seed2, GOOD(LOOPY));
  const r = await cli(['run', seed2, '--duration', '3s', '--seed', '2']);
  t.is(r.code, 5, r.err);
  t.regex(r.err, /scenario file .*seed2\.ts: program\(cpu 0 of 4, seed 2, \d+ ops\) was still running when the budget ended/);
  t.regex(r.out, /the budget ended after 0 runs: the report is partial/);
});

test.serial('a program() that never returns for one seed, without a budget: the CPU-time limit stops it, bad input (6)', async (t) => {
  const seed2 = join(tmp(), 'seed2.ts');
  writeFileSync(seed2, GOOD(LOOPY));
  badInput(t, await cli(['run', seed2, '--ops', '50', '--seed', '2']), /program\(cpu 0 of 4, seed 2, 50 ops\) did not return within 10 s of CPU time/);
});

test.serial('fuzzing a scenario file that loops only for one seed ends at its budget (6)', async (t) => {
  const seed2 = join(tmp(), 'seed2.ts');
  writeFileSync(seed2, GOOD(LOOPY));
  const fz = await cli(['fuzz', seed2, '--budget', '2s', '--shrink-budget', '1s', '--seed', '5']);
  t.true(fz.code === 0 || fz.code === 5, fz.err);
});

test.serial('programs from scenario files are checked op by op before anything runs (7)', async (t) => {
  const dir = tmp();
  const cases: [string, string, RegExp][] = [
    ['op99', 'b.delay(1); const p = b.build(); p[0] = 99; return p;', /op 0 \(op 99\): unknown code 99/],
    ['slot', 'b.allocSlot(1000, 8, 8); return b.build();', /op 0 \(alloc s1000 .*\): names slot 1000, outside 0\.\.63/],
    ['neg', 'b.freeSlot(-1); return b.build();', /names slot -1/],
    ['burst', 'b.burst(1_000_000, 8, 8); return b.build();', /a burst is 0\.\.1024 areas, got 1000000/],
    ['lock', 'b.lock(0, true); return b.build();', /only the test locks \(5\.\.10\) can be named, got 0/],
    ['completion', 'b.wait(9999); return b.build();', /only completions \(12\.\.13\) can be waited for and completed, got 9999/],
    ['target', 'b.allocSlot(0, 8, 8); b.irqFreeSlot(0, 7); return b.build();', /op 1 \(irqfree s0 -> cpu7\): aims at cpu7, the machine has 2 CPUs/],
  ];
  for (const [name, body, re] of cases) {
    const f = join(dir, `${name}.ts`);
    writeFileSync(f, GOOD(`export default { name: 'p-${name}', description: 'd', config: (cpus: number) => ({ cpus }), program(ctx) { const b = builder(this.name, ctx); ${body} } } as Scenario;`));
    badInput(t, await cli(['run', f]), re);
    badInput(t, await cli(['fuzz', f, '--jobs', '2', '--runs', '4', '--out', dir]), re);
  }
  t.false(readdirSync(dir).some((f) => f.startsWith('repro-')), 'no repro of a harness artifact');
});

test.serial('outputs: a dangling symlink is written through, a link into a missing directory refused up front, aliases caught (8, 9)', async (t) => {
  const dir = tmp();
  const link = join(dir, 'report.json');
  symlinkSync('real/target.json', link);
  mkdirSync(join(dir, 'real'));
  for (const cmd of [['run', 'irq-free', '--cpus', '2', '--ops', '50'], ['fuzz', 'irq-free', '--runs', '2', '--out', dir]]) {
    const r = await cli([...cmd, '--json', link]);
    t.is(r.code, 0, r.err);
    t.true(lstatSync(link).isSymbolicLink(), 'the link is still a link');
    t.is(readlinkSync(link), 'real/target.json');
    t.regex(readFileSync(join(dir, 'real', 'target.json'), 'utf8'), /"tool": "percpu-stress"/);
  }
  const nowhere = join(dir, 'nowhere.json');
  symlinkSync('missing/dir/x.json', nowhere);
  badInput(t, await cli(['run', 'irq-free', '--ops', '10', '--json', nowhere]), /--json: cannot write to .*missing\/dir \(where .*nowhere\.json points\)/);
  // the same file twice: by another spelling, and through a link
  const x = join(dir, 'x.out');
  for (const cmd of [['run', 'irq-free', '--ops', '10'], ['fuzz', 'irq-free', '--runs', '1', '--out', dir], ['merge', 'whatever.json']]) {
    badInput(t, await cli([...cmd, '--json', x, '--junit', join(dir, '.', 'x.out')], dir), /--json and --junit name the same file/);
  }
  writeFileSync(x, 'old');
  symlinkSync(x, join(dir, 'alias.out'));
  badInput(t, await cli(['run', 'irq-free', '--ops', '10', '--json', x, '--ktap', join(dir, 'alias.out')]), /--json and --ktap name the same file/);
  t.is(readFileSync(x, 'utf8'), 'old', 'nothing written');
});

test.serial('every output is attempted and each failure is one line: fuzz and replay go on past /dev/full (10, 11)', async (t) => {
  const dir = tmp();
  const f = join(dir, 'f.json');
  const r = await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '5', '--shrink-budget', '10m', '--html', '/dev/full', '--json', f, '--ktap', join(dir, 'f.tap'), '--out', dir, '--quiet']);
  t.is(r.code, 2, r.err);
  t.is(r.err, 'percpu-stress: --html: cannot write /dev/full: ENOSPC\n');
  t.regex(r.out, /BUG: sleeping function called from invalid context/, 'the finding is on stdout');
  t.true(existsSync(f) && existsSync(join(dir, 'f.tap')));
  const repro = join(dir, readdirSync(dir).find((x) => x.startsWith('repro-'))!);
  const rp = await cli(['replay', repro, '--junit', '/dev/full', '--json', join(dir, 'r.json'), '--quiet']);
  t.is(rp.code, 2);
  t.is(rp.err, 'percpu-stress: --junit: cannot write /dev/full: ENOSPC\n');
  t.true(existsSync(join(dir, 'r.json')));
  // a lockdep directory whose every file cannot be written: one line for the flag, not one per file
  const ld = join(dir, 'ld');
  mkdirSync(ld);
  for (const s of ['irq-free', 'alloc-free-storm']) for (const ext of ['lockdep', 'lockdep.dot', 'lockdep_chains']) mkdirSync(join(ld, `${s}-seed1.${ext}`));
  const run = await cli(['run', 'irq-free', '--cpus', '2', '--ops', '50', '--lockdep-out', ld]);
  t.is(run.code, 2);
  // (refused before the run: the files a folder will receive are outputs like the others)
  t.regex(run.err, /^percpu-stress: --lockdep-out: .*ld\/irq-free-seed1\.lockdep\.dot is a directory\n$/);
});

test.serial('replay refuses a repro too long to schedule, and one whose scenario now gives another machine (12, 16)', async (t) => {
  const dir = tmp();
  t.is((await cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '5', '--shrink-budget', '10m', '--out', dir, '--quiet'])).code, 1);
  const file = join(dir, readdirSync(dir).find((x) => x.startsWith('repro-'))!);
  const repro = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const long = join(dir, 'long.json');
  writeFileSync(long, JSON.stringify({ ...repro, programs: (repro.programs as unknown[]).map((p, i) => (i === 0 ? Array.from({ length: 1_100_000 }, () => [5, 0, 0, 0]) : p)) }));
  badInput(t, await cli(['replay', long]), /1,100,\d{3} ops: a controlled run of more than 1,073,\d{3} ops cannot count its steps in 32 bits/);
  const other = join(dir, 'other.json');
  writeFileSync(other, JSON.stringify({ ...repro, scenario: 'km' }));
  badInput(t, await cli(['replay', other]), /config\.\w+: the repro ran with .*, scenario km \(cpus \d, seed \d+\) now gives .*: it would replay another machine/);
});

test.serial('run --schedule naming an entity the run does not have is refused (13)', async (t) => {
  badInput(t, await cli(['run', 'irq-free', '--cpus', '2', '--ops', '10', '--schedule', encodeSchedule([99 << 1, 3])]), /--schedule: names entity 99, a run of 2 CPUs has entities 0\.\.2/);
});

test.serial('a reader that goes away is not a violation: run | head -1 ends with the run\'s own verdict and no stack (14)', async (t) => {
  for (const args of [['run', 'irq-free', '--cpus', '2', '--ops', '300', '--verbose'], ['list'], ['help']]) {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    t.is(code, 0, `${args.join(' ')}: ${err}`);
    t.is(err, '');
  }
});

test.serial('the re-run hint of a scenario file names the file, and pastes (15)', async (t) => {
  const r = await cli(['run', 'examples/scenarios/irq-burst.ts', '--inject', 'single-mutex', '--ops', '300', '--cpus', '2'], ROOT);
  t.is(r.code, 1, r.err);
  const hint = /re-run with:\n {2}npx (percpu-stress run .*)\n/.exec(r.out)![1]!;
  t.regex(hint, /^percpu-stress run \.\/examples\/scenarios\/irq-burst\.ts --cpus 2 --inject single-mutex --seed 1 --ops 300$/);
  const again = await cli(hint.split(' ').slice(1), ROOT);
  t.not(again.code, 2, again.err);
});

test.serial('phys programs replay, and a fuzz with --trace-out keeps its finding (1)', async (t) => {
  const dir = tmp();
  const trace = join(dir, 't.json');
  const r = await cli(['fuzz', 'phys-lookup', '--strict-known', '--runs', '20', '--budget', '10m', '--out', dir, '--trace-out', trace, '--quiet']);
  t.is(r.code, 1, r.err);
  t.regex(r.out, /repro: /);
  t.true(existsSync(trace));
  const repro = join(dir, readdirSync(dir).find((x) => x.startsWith('repro-'))!);
  t.true((JSON.parse(readFileSync(repro, 'utf8')) as { programs: number[][][] }).programs.some((p) => p.some((op) => op[0] === 13)), 'the repro holds phys ops');
  t.is((await cli(['replay', repro, '--quiet'])).code, 1);
});

test.serial('every input class: bad flags, files and values are one line and exit 2 on every command', async (t) => {
  const dir = tmp();
  const notJson = join(dir, 'n.json');
  writeFileSync(notJson, '{');
  const supp = join(dir, 'bad.supp');
  writeFileSync(supp, 'lockdep-circular:pcpu_*\nwhat is this\n');
  const cases: [string[], RegExp][] = [
    [['run', 'irq-free', '--cpus', '0'], /--cpus must be in 1\.\.64, got 0/],
    [['run', 'irq-free', '--cpus=-1'], /--cpus must be a non-negative integer, got "-1"/],
    [['run', 'irq-free', '--cpus'], /--cpus needs a value/],
    [['run', 'irq-free', '--cpus', '--seed', '1'], /--cpus needs a value/],
    [['run', 'irq-free', '--seed', '-1'], /--seed takes no negative value, got "-1"/],
    [['run', 'irq-free', '--quiet=1'], /--quiet takes no value/],
    [['run', 'irq-free', '-x'], /unknown option "-x" for run/],
    [['run', 'irq-free', '--seed', '1', '--seed', '2'], /--seed given twice/],
    [['run', 'irq-free', 'extra'], /unexpected argument "extra"/],
    [['run', 'irq-free', '--watchdog', '10ms'], /--watchdog must be at least 200ms/],
    [['run', 'irq-free', '--duration', '99999999999s'], /longer than 24 days/],
    [['run', 'irq-free', '--suppressions', supp], /bad\.supp:2: expected <kind>:<function-glob>/],
    [['run', 'irq-free', '--sizes', '0'], /--sizes/],
    [['fuzz', 'irq-free', '--shard', '3/2'], /--shard must be i\/n/],
    [['fuzz', 'irq-free', '--shard', '1/1000000'], /--shard must be i\/n with 1 <= i <= n <= 100000/],
    [['fuzz', 'irq-free', '--jobs', '65'], /--jobs must be in 1\.\.64/],
    [['replay', notJson], /n\.json: not valid JSON/],
    [['replay', dir], /percpu-in-\w+ is a directory: a repro file must be a regular file/],
    [['merge', notJson], /n\.json: not valid JSON/],
    [['trace', join(dir, 'missing')], /cannot read .*missing: ENOENT/],
    [['single', '--ops', '0'], /--ops must be in 1\.\.10,000,000, got 0/],
    [['list', 'x'], /unexpected argument "x" \(list takes none\)/],
    [['help', 'nope'], /help: unknown command "nope"/],
    [['bench', '--json', dir], /--json: .* is a directory/],
    [['nope'], /unknown command "nope"/],
  ];
  for (const [args, re] of cases) badInput(t, await cli(args), re);
});
