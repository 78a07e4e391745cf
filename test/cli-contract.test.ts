// The CLI's contract under abuse: output files that clash or are not regular
// files, budgets that cannot hold, signals that must leave a marked partial
// report, and the exit codes that tell these apart.

import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

function oneLineUsage(t: import('ava').ExecutionContext, args: string[], re: RegExp): void {
  const r = cli(args);
  t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, re);
}

test('budgets and outputs that cannot hold are refused up front with one line and exit 2', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-cli-'));
  const same = join(dir, 'o');
  oneLineUsage(t, ['run', 'irq-free', '--ops', '10', '--json', same, '--junit', same], /--json and --junit name the same file/);
  oneLineUsage(t, ['run', 'irq-free', '--ops', '1000000000000'], /--ops must be in 1\.\.10,000,000, got 1000000000000/);
  oneLineUsage(t, ['run', 'irq-free', '--strategy', 'pct', '--cpus', '1', '--ops', '1100000'], /32 bits/);
  oneLineUsage(t, ['run', 'all', '--seeds', '1..10000', '--duration', '1s'], /under 100 ms each/);
  oneLineUsage(t, ['fuzz', 'irq-free', '--budget', '0'], /--budget must be at least 100ms/);
  writeFileSync(join(dir, 'file'), '');
  oneLineUsage(t, ['fuzz', 'irq-free', '--out', join(dir, 'file')], /--out: .* is not a directory/);
  oneLineUsage(t, ['run', 'irq-free', '--ops', '10', '--ops', '20'], /--ops given twice/);
});

test('a device or a symlink given as an output is written through, never replaced', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-out-'));
  const real = join(dir, 'real.json');
  writeFileSync(real, 'old');
  const link = join(dir, 'link.json');
  symlinkSync(real, link);
  const r = cli(['run', 'irq-free', '--ops', '20', '--cpus', '2', '--quiet', '--json', link, '--junit', '/dev/null']);
  t.is(r.status, 0, r.stderr);
  t.true(statSync('/dev/null').isCharacterDevice(), '/dev/null is still a device');
  t.true(statSync(link, { throwIfNoEntry: true }).isFile());
  t.is(JSON.parse(readFileSync(real, 'utf8')).command, 'run', 'the symlink target got the report');
});

test('SIGTERM during a run prints the partial report marked interrupted and exits 143', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-sig-'));
  const json = join(dir, 'r.json');
  const child = spawn(process.execPath, [CLI, 'run', 'all', '--cpus', '2', '--ops', '200000', '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let signalled = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    // the first scenario's line is out: the run is under way
    if (!signalled && out.includes('\n')) {
      signalled = true;
      child.kill('SIGTERM');
    }
  });
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  t.is(code, 143, out);
  t.regex(out, /\(interrupted: the report is partial\)/);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { partial: boolean; results: unknown[] };
  t.true(report.partial);
  t.true(report.results.length >= 1);
});

test('help: every command has examples, start gives its own defaults, output folders are said to be made, a mistyped option gets a "did you mean"', (t) => {
  for (const cmd of ['start', 'run', 'fuzz', 'replay', 'merge', 'list', 'trace', 'single', 'bench', 'help']) {
    const r = cli([cmd, '--help']);
    t.is(r.status, 0, cmd);
    t.regex(r.stdout, /\nexamples:\n {2}# .+\n {2}.*npx percpu-stress /, `${cmd} --help has examples`);
  }
  const start = cli(['start', '--help']).stdout;
  t.regex(start, /--duration D +.*\(default: 20s\)/);
  t.notRegex(start, /2000 \(when no --duration\)/);
  t.regex(cli(['fuzz', '--help']).stdout, /--out DIR +write repro files into this folder \(made if missing\)/);
  t.regex(cli(['run', '--help']).stdout, /--lockdep-out DIR\n? *.*\(made if missing\)/);
  oneLineUsage(t, ['run', 'irq-free', '--cpsu', '2'], /unknown option "--cpsu" for run: did you mean --cpus\?/);
  oneLineUsage(t, ['fuzz', '--keepgoing'], /did you mean --keep-going\?/);
  oneLineUsage(t, ['fuzz', '--zzzzzz'], /^percpu-stress: unknown option "--zzzzzz" for fuzz \(try: percpu-stress fuzz --help\)$/m);
});
