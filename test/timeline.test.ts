// The timeline of a controlled run: Chrome Trace Event JSON that Perfetto
// and chrome://tracing accept (`--trace-out`), and the readable interleaving
// of `replay --explain`.

import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Ev { name: string; ph: string; ts: number; dur?: number; pid: number; tid: number; id?: number; bp?: string; s?: string; cat?: string; args?: Record<string, unknown> }

/**
 * The rules by which the catapult viewer (chrome://tracing; Perfetto's JSON
 * importer follows it) loads a file whole: no package of it is on the npm
 * registry, so they are written here; returns every rule broken. Slices are
 * complete (X) events that nest on their track (no partial overlap); an
 * instant is `I` (or the older `i`); a flow's id is a number (string ids are
 * read as hex and dropped otherwise), it starts once and ends once, and both
 * ends fall inside a slice on their own track (`s` and `f` with `bp: "e"`
 * bind to the enclosing slice, else the arrow is dropped); every track is
 * named. The DevTools engine's own rules are checked by the engine itself
 * (the test after the next).
 */
function validate(doc: { traceEvents: Ev[] }, entities: number): string[] {
  const bad: string[] = [];
  const phases = new Set(['X', 'I', 'i', 's', 'f', 'M']);
  const tracks = new Map<string, Ev[]>();
  const named = new Set<string>();
  const trackOf = (e: Ev): string => `${e.pid}/${e.tid}`;
  for (const [i, e] of doc.traceEvents.entries()) {
    if (!phases.has(e.ph)) bad.push(`event ${i}: phase ${e.ph}`);
    if (!Number.isInteger(e.pid) || e.pid < 1 || e.pid > entities || !Number.isInteger(e.tid) || e.tid < 0) bad.push(`event ${i}: pid/tid ${e.pid}/${e.tid}`);
    if (!Number.isFinite(e.ts) || e.ts < 0) bad.push(`event ${i}: ts ${e.ts}`);
    if (e.ph === 'M') {
      if (e.name === 'thread_name') named.add(trackOf(e));
      continue;
    }
    if (e.ph === 'X') {
      if (!Number.isInteger(e.dur) || e.dur! < 1) bad.push(`event ${i}: X ${e.name} has dur ${e.dur}`);
      tracks.set(trackOf(e), [...(tracks.get(trackOf(e)) ?? []), e]);
    }
  }
  for (const [track, xs] of tracks) {
    if (!named.has(track)) bad.push(`track ${track} has no thread_name`);
    const sorted = [...xs].sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
    const open: Ev[] = [];
    for (const x of sorted) {
      while (open.length && open[open.length - 1]!.ts + open[open.length - 1]!.dur! <= x.ts) open.pop();
      const parent = open[open.length - 1];
      if (parent && x.ts + x.dur! > parent.ts + parent.dur!) bad.push(`track ${track}: ${x.name} [${x.ts}, ${x.ts + x.dur!}) overlaps ${parent.name} [${parent.ts}, ${parent.ts + parent.dur!}) without nesting`);
      open.push(x);
    }
  }
  const inSlice = (e: Ev): boolean => (tracks.get(trackOf(e)) ?? []).some((x) => x.ts <= e.ts && e.ts < x.ts + x.dur!);
  const starts = new Map<number, Ev>();
  const ends = new Map<number, Ev>();
  for (const e of doc.traceEvents) {
    if (e.ph !== 's' && e.ph !== 'f') continue;
    if (typeof e.id !== 'number' || !Number.isInteger(e.id)) {
      bad.push(`flow ${String(e.id)}: the id is not a number`);
      continue;
    }
    const m = e.ph === 's' ? starts : ends;
    if (m.has(e.id)) bad.push(`flow ${e.id}: two ${e.ph} events`);
    m.set(e.id, e);
    if (e.ph === 'f' && e.bp !== 'e') bad.push(`flow ${e.id}: f without bp "e" binds to the next slice, not the enclosing one`);
    if (!inSlice(e)) bad.push(`flow ${e.id}: its ${e.ph} at ${e.ts} is inside no slice of track ${trackOf(e)}`);
  }
  for (const id of starts.keys()) if (!ends.has(id)) bad.push(`flow ${id}: never ends`);
  for (const id of ends.keys()) if (!starts.has(id)) bad.push(`flow ${id}: never starts`);
  return bad;
}

test('the trace checker is not vacuous: B/E events, string flow ids, flow ends outside slices and crossing slices are refused', (t) => {
  const name = (pid: number, tid: number): Ev => ({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name: 'x' } });
  const ok: Ev[] = [name(1, 1), name(2, 1), { name: 'a', ph: 'X', ts: 0, dur: 10, pid: 1, tid: 1 }, { name: 'b', ph: 'X', ts: 10, dur: 10, pid: 2, tid: 1 },
    { name: 'c', ph: 's', ts: 9, id: 1, pid: 1, tid: 1 }, { name: 'c', ph: 'f', bp: 'e', ts: 10, id: 1, pid: 2, tid: 1 }];
  t.deepEqual(validate({ traceEvents: ok }, 2), []);
  t.regex(validate({ traceEvents: [...ok, { name: 'x', ph: 'B', ts: 1, pid: 1, tid: 1 }] }, 2).join(), /phase B/);
  t.regex(validate({ traceEvents: ok.map((e) => (e.id ? { ...e, id: 'switch:1' as unknown as number } : e)) }, 2).join(), /the id is not a number/);
  t.regex(validate({ traceEvents: ok.map((e) => (e.ph === 's' ? { ...e, ts: 10 } : e)) }, 2).join(), /its s at 10 is inside no slice/);
  t.regex(validate({ traceEvents: ok.map((e) => (e.ph === 'f' ? { ...e, ts: 9 } : e)) }, 2).join(), /its f at 9 is inside no slice/);
  t.regex(validate({ traceEvents: [...ok, { name: 'z', ph: 'X', ts: 5, dur: 10, pid: 1, tid: 1 }] }, 2).join(), /overlaps a .* without nesting/);
});

test('fuzz --trace-out writes valid Trace Event JSON of the minimal failing run; replay writes the same file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-tl-'));
  const file = join(dir, 'trace.json');
  const r = cli(['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--runs', '40', '--shrink-budget', '10m', '--budget', '10m', '--seed', '1', '--out', dir, '--trace-out', file]);
  t.is(r.code, 1, r.out + r.err);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: Ev[]; otherData: { cpus: number } };
  const entities = doc.otherData.cpus + 1;
  t.deepEqual(validate(doc, entities), []);
  const evs = doc.traceEvents;
  // operations, lock holds, context switches and the violation are all there
  t.true(evs.some((e) => e.ph === 'X' && e.name === 'pcpu_alloc'));
  t.true(evs.some((e) => e.ph === 'X' && e.name === 'pcpu_reclaim' && e.pid === entities));
  // lock spans on the tracks of the CPU that held them (a lock track inside its process)
  const holds = evs.filter((e) => e.ph === 'X' && e.name === 'holds pcpu_alloc_mutex');
  t.true(holds.length > 0);
  for (const h of holds) t.true(evs.some((m) => m.ph === 'M' && m.name === 'thread_name' && m.pid === h.pid && m.tid === h.tid && /: pcpu_alloc_mutex$/.test(m.args!.name as string)));
  t.true(evs.filter((e) => e.ph === 's').length > 0);
  t.is(evs.filter((e) => e.ph === 's').length, evs.filter((e) => e.ph === 'f').length);
  const v = evs.filter((e) => e.ph === 'I' && e.cat === 'violation');
  t.true(v.length >= 1);
  t.regex(v.map((e) => e.name).join('\n'), /possible circular locking dependency|sleeping function called from invalid context/);
  // timestamps are steps: each violation sits at its own step, not at the end of the run
  for (const e of v) t.is(Math.floor(e.ts / 1000), e.args!.step as number, e.name);
  const repro = readdirSync(dir).find((f) => f.startsWith('repro-'))!;
  const again = join(dir, 'again.json');
  const rr = cli(['replay', join(dir, repro), '--trace-out', again]);
  t.is(rr.code, 1, rr.err);
  const a = JSON.parse(readFileSync(again, 'utf8')) as { traceEvents: Ev[] };
  t.deepEqual(a.traceEvents, doc.traceEvents);
});

test('the DevTools trace engine (npm) binds every context-switch flow and shows each violation inside the function that reported it, at its step', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-tl-'));
  // single-mutex: free_percpu sleeps in an interrupt handler on cpu0 at step 11, then cpu0 switches away
  t.is(cli(['fuzz', 'irq-free', '--inject', 'single-mutex', '--runs', '3', '--shrink-budget', '10m', '--out', dir, '--quiet']).code, 1);
  const repro = join(dir, readdirSync(dir).find((f) => f.startsWith('repro-'))!);
  const file = join(dir, 't.json');
  t.is(cli(['replay', repro, '--trace-out', file, '--quiet']).code, 1);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: Ev[]; otherData: { cpus: number } };
  t.deepEqual(validate(doc, doc.otherData.cpus + 1), [], 'catapult\'s rules');
  const { analyzeEvents } = await import('@paulirish/trace_engine/analyze-trace.mjs');
  const { data } = (await analyzeEvents(doc.traceEvents)).parsedTrace;
  const switches = doc.traceEvents.filter((e) => e.ph === 's').length;
  t.true(switches >= 2);
  // every switch an arrow from the turn that ends to the turn that starts
  t.is(data.Flows.flows.length, switches);
  for (const f of data.Flows.flows) t.deepEqual([f.length, /^switch to /.test(f[0]!.name), f[1]!.name], [2, true, 'on the CPU']);
  const markers = [...data.Renderer.entryToNode.entries()].filter(([e]) => e.cat === 'violation');
  t.is(markers.length, doc.traceEvents.filter((e) => e.cat === 'violation').length, 'no marker dropped');
  const sleep = markers.find(([e]) => /^BUG: sleeping function called from invalid context/.test(e.name));
  t.truthy(sleep);
  const [ev, node] = sleep!;
  // inside free_percpu on cpu0, at step 11 as the HTML and --explain show it, before cpu0 switches away
  t.deepEqual([node.parent?.entry.name, ev.pid, Math.floor(ev.ts / 1000)], ['free_percpu', 1, 11]);
  const away = doc.traceEvents.find((e) => e.ph === 's' && e.pid === 1 && e.ts > 10_000)!;
  t.true(ev.ts < away.ts, `the marker (${ev.ts}) comes before cpu0 switches away (${away.ts})`);
});

test('replay --explain prints the interleaving up to the violation, --all every step', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-tl-'));
  const r = cli(['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--runs', '40', '--shrink-budget', '10m', '--budget', '10m', '--seed', '1', '--out', dir]);
  t.is(r.code, 1, r.out + r.err);
  const repro = join(dir, readdirSync(dir).find((f) => f.startsWith('repro-'))!);
  const ex = cli(['replay', repro, '--explain']);
  t.is(ex.code, 1, ex.err);
  const part = ex.out.slice(ex.out.indexOf('the interleaving up to the violation:'));
  t.regex(part, /\n {3}step  entity +event\n/);
  t.regex(part, /\n +\d+ +cpu\d +calls pcpu_alloc\(\)\n/);
  t.regex(part, /\n +\d+ +cpu\d +takes pcpu_lock\n/);
  // the violation in its place, with its title
  t.regex(part, /\n +\d+ +(cpu\d|kworker\/0:1) +!! [A-Z]/);
  const all = cli(['replay', repro, '--explain', '--all']);
  t.is(all.code, 1);
  const lines = (s: string): number => s.split('\n').filter((l) => /^ +\d+ {2}/.test(l)).length;
  t.true(lines(all.out) >= lines(ex.out));
  t.false(all.out.includes('earlier events (--all shows them)'));
  t.is(cli(['replay', repro, '--all']).code, 2);
});

test('--trace-out on a free-running run is refused', (t) => {
  const r = cli(['run', 'irq-free', '--trace-out', '/tmp/x.json']);
  t.is(r.code, 2);
  t.regex(r.err, /--trace-out needs a controlled run/);
});

test('run --strategy pct --trace-out writes the timeline of the run', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-tl-'));
  const file = join(dir, 't.json');
  const r = cli(['run', 'irq-free', '--cpus', '2', '--ops', '20', '--strategy', 'pct', '--trace-out', file, '--json', join(dir, 'r.json')]);
  t.is(r.code, 0, r.err);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: Ev[] };
  t.deepEqual(validate(doc, 3), []);
  t.true(doc.traceEvents.some((e) => e.name === 'free_percpu'));
  // the JSON report does not carry the timeline
  t.false(readFileSync(join(dir, 'r.json'), 'utf8').includes('"timeline"'));
});

test('fuzz --keep-going groups findings by signature: one repro per signature, of its first failing run', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-kg-'));
  const json = join(dir, 'f.json');
  const junit = join(dir, 'f.xml');
  const r = cli(['fuzz', 'all', '--inject', 'reclaim-lock-inversion', '--keep-going', '--runs', '30', '--shrink-budget', '10m', '--budget', '10m', '--seed', '1', '--out', dir, '--json', json, '--junit', junit, '--quiet']);
  t.is(r.code, 1, r.err);
  const doc = JSON.parse(readFileSync(json, 'utf8')) as { findings: { signature: string; occurrences: number; reproPath: string; strategy: string }[]; byStrategy: Record<string, number> };
  const sigs = doc.findings.map((f) => f.signature);
  // the default portfolio: every strategy ran, and each finding says which one found it
  t.deepEqual(Object.keys(doc.byStrategy).sort(), ['pct/d1', 'pct/d2', 'pct/d3', 'pos', 'random', 'urw']);
  t.true(doc.findings.every((f) => /^(pct\/d[123]|pos|urw|random)$/.test(f.strategy)));
  t.is(new Set(sigs).size, sigs.length);
  // the same bug fails many runs: they are one finding, counted
  t.true(doc.findings.some((f) => f.occurrences > 1));
  const repros = readdirSync(dir).filter((f) => f.startsWith('repro-')).sort();
  t.deepEqual(repros, doc.findings.map((f) => f.reproPath.slice(dir.length + 1)).sort());
  t.regex(r.out, /signature: lockdep-circular \[[^\]]*pcpu_lock[^\]]*\] pcpu_reclaim \(\d+ failing runs\)/);
  // --junit: a testcase per scenario fuzzed, failed where a finding was made
  const xml = readFileSync(junit, 'utf8');
  t.regex(xml, /<testcase classname="percpu-stress.fuzz.reclaim-race"/);
  t.regex(xml, /<failure message="[^"]+" type="lockdep-circular">/);
});

test('--help on every command, --version, and lockdep exports from the CLI', (t) => {
  for (const cmd of ['run', 'fuzz', 'replay', 'merge', 'bench', 'single', 'trace', 'list', 'start', 'help']) {
    const r = cli([cmd, '--help']);
    t.is(r.code, 0, `${cmd}: ${r.err}`);
    t.true(r.out.startsWith(`usage: percpu-stress ${cmd}`), `${cmd}: ${r.out.slice(0, 80)}`);
  }
  const v = cli(['--version']);
  t.is(v.code, 0);
  t.regex(v.out, /^percpu-stress \d+\.\d+\.\d+ /);
  const dir = mkdtempSync(join(tmpdir(), 'percpu-ld-'));
  const r = cli(['run', 'irq-free', '--cpus', '2', '--ops', '100', '--lockdep-out', dir]);
  t.is(r.code, 0, r.err);
  t.regex(readFileSync(join(dir, 'irq-free-seed1.lockdep'), 'utf8'), /^all lock classes:\n0000 FD: +\d+ BD: +\d+ [+.-]+: pcpu_alloc_mutex\n -> \[0001\] pcpu_lock/);
  t.regex(readFileSync(join(dir, 'irq-free-seed1.lockdep.dot'), 'utf8'), /^digraph lockdep \{[^]*c0 -> c1/);
  t.regex(readFileSync(join(dir, 'irq-free-seed1.lockdep_chains'), 'utf8'), /irq_context: \d+\n\[0000\] pcpu_alloc_mutex\n\[0001\] pcpu_lock\n/);
  t.is(cli(['run', 'irq-free', '--lockdep-out', '/dev/null/dir']).code, 2);
});
