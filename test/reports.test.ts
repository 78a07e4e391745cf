// JUnit and KTAP as their consumers read them. Every JUnit file of run,
// fuzz, replay and merge is validated against the Jenkins xUnit schema
// (test/fixtures/junit-10.xsd) with xmllint and parsed with junit2json, an
// npm JUnit consumer; every KTAP file is parsed by a KTAP v1 grammar checker
// (below, from Documentation/dev-tools/ktap.rst). Both must carry every
// finding, a time everywhere, known issues as skipped cases naming them.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateXML } from 'xmllint-wasm';
import { parse, type TestCase, type TestSuites } from 'junit2json';

const CLI = new URL('../bin/percpu-stress.js', import.meta.url).pathname;
const XSD = readFileSync(new URL('fixtures/junit-10.xsd', import.meta.url), 'utf8');

function cli(args: string[], cwd: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Ktap { name: string; ok: boolean; directive: string; diagnostics: string[]; subtests: Ktap[] }

/**
 * A KTAP v1 document, checked line by line: a version line, a plan, result
 * lines numbered 1..n (the plan's n), diagnostics as "# ...", subtests
 * indented two spaces with their own version line, a "# Subtest: <name>"
 * line (kunit.py's test header: it names the parent, and the parent's
 * result line must carry the same name) and plan, and a parent that fails
 * if any subtest fails. Throws on the first rule broken.
 */
function parseKtap(text: string): Ktap[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let i = 0;
  const level = (indent: number): { tests: Ktap[]; header: string | null } => {
    const pad = ' '.repeat(indent);
    const at = (): string => lines[i] ?? '';
    if (at() !== `${pad}KTAP version 1`) throw new Error(`line ${i + 1}: expected "${pad}KTAP version 1", got ${JSON.stringify(at())}`);
    i++;
    const header = new RegExp(`^${pad}# Subtest: (.*)$`).exec(at())?.[1] ?? null;
    if (header !== null) i++;
    if (indent > 0 && header === null) throw new Error(`line ${i + 1}: a subtest without its "# Subtest: <name>" line`);
    const plan = new RegExp(`^${pad}1\\.\\.(\\d+)$`).exec(at());
    if (!plan) throw new Error(`line ${i + 1}: expected a plan, got ${JSON.stringify(at())}`);
    i++;
    const n = Number(plan[1]);
    const out: Ktap[] = [];
    let diags: string[] = [];
    let subs: Ktap[] = [];
    let subName: string | null = null;
    while (out.length < n) {
      const l = at();
      if (l === undefined || i >= lines.length) throw new Error(`the plan says ${n} tests, ${out.length} came`);
      if (l.startsWith(`${pad}  KTAP version 1`)) {
        ({ tests: subs, header: subName } = level(indent + 2));
        continue;
      }
      const d = new RegExp(`^${pad}# (.*)$`).exec(l);
      if (d) {
        diags.push(d[1]!);
        i++;
        continue;
      }
      const r = new RegExp(`^${pad}(ok|not ok) (\\d+)(?: ([^#]*?))?(?: # (.*))?$`).exec(l);
      if (!r) throw new Error(`line ${i + 1}: not a KTAP line: ${JSON.stringify(l)}`);
      if (Number(r[2]) !== out.length + 1) throw new Error(`line ${i + 1}: test ${r[2]}, expected ${out.length + 1}`);
      const t: Ktap = { name: r[3] ?? '', ok: r[1] === 'ok', directive: r[4] ?? '', diagnostics: diags, subtests: subs };
      if (t.ok && subs.some((s) => !s.ok)) throw new Error(`line ${i + 1}: ${t.name} is ok but a subtest failed`);
      if (subName !== null && subName !== t.name) throw new Error(`line ${i + 1}: the subtest header names ${JSON.stringify(subName)}, its result ${JSON.stringify(t.name)}`);
      out.push(t);
      diags = [];
      subs = [];
      subName = null;
      i++;
    }
    return { tests: out, header };
  };
  const top = level(0).tests;
  if (i !== lines.length) throw new Error(`line ${i + 1}: text after the last test: ${JSON.stringify(lines[i])}`);
  return top;
}

async function junit(t: import('ava').ExecutionContext, file: string): Promise<TestCase[]> {
  const xml = readFileSync(file, 'utf8');
  const v = await validateXML({ xml: [{ fileName: 'report.xml', contents: xml }], schema: [{ fileName: 'junit-10.xsd', contents: XSD }] });
  t.true(v.valid, `${file}: ${v.errors.map((e) => e.message).join('; ')}`);
  const doc = (await parse(xml)) as TestSuites;
  t.true(Number.isFinite(doc.time), 'testsuites has a time');
  const cases: TestCase[] = [];
  for (const s of doc.testsuite ?? []) {
    t.true(Number.isFinite(s.time), 'testsuite has a time');
    for (const c of s.testcase ?? []) {
      t.true(Number.isFinite(c.time) && c.time! >= 0, `${c.name}: time ${c.time}`);
      cases.push(c);
    }
  }
  t.is(doc.tests, cases.length);
  t.is(doc.failures, cases.filter((c) => c.failure).length);
  return cases;
}

test('the KTAP checker refuses what KTAP forbids (it is not vacuous)', (t) => {
  t.notThrows(() => parseKtap('KTAP version 1\n1..1\n  KTAP version 1\n  # Subtest: top\n  1..1\n  ok 1 a\nok 1 top\n'));
  t.throws(() => parseKtap('KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  ok 1 a\nok 1 top\n'), { message: /without its "# Subtest: <name>" line/ });
  t.throws(() => parseKtap('KTAP version 1\n1..1\n  KTAP version 1\n  # Subtest: top\n  1..1\n  ok 1 a\nok 1 other\n'), { message: /header names "top", its result "other"/ });
  t.throws(() => parseKtap('TAP version 13\n1..1\nok 1 a\n'), { message: /expected "KTAP version 1"/ });
  t.throws(() => parseKtap('KTAP version 1\n1..2\nok 1 a\n'), { message: /the plan says 2/ });
  t.throws(() => parseKtap('KTAP version 1\n1..1\nok 2 a\n'), { message: /test 2, expected 1/ });
  t.throws(() => parseKtap('KTAP version 1\n1..1\n  KTAP version 1\n  # Subtest: top\n  1..1\n  not ok 1 a\nok 1 top\n'), { message: /a subtest failed/ });
  t.throws(() => parseKtap('KTAP version 1\n1..1\nok 1 a\nok 2 b\n'), { message: /text after the last test/ });
});

test('run: JUnit and KTAP carry each finding signature, known issues as skipped cases naming them, a time everywhere', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-rep-'));
  const r = cli(['run', 'boot', '--cpus', '2', '--ops', '100', '--inject', 'alloc-irq-restore', '--junit', 'r.xml', '--ktap', 'r.tap'], dir);
  t.is(r.code, 1, r.err);
  const cases = await junit(t, join(dir, 'r.xml'));
  const failed = cases.filter((c) => c.failure);
  t.is(failed.length, 2, 'two signatures, two failed cases');
  t.deepEqual(failed.map((c) => c.failure![0]!.type).sort(), ['irq-state', 'irqs-enabled-early']);
  const k = parseKtap(readFileSync(join(dir, 'r.tap'), 'utf8'));
  t.is(k.length, 1);
  t.false(k[0]!.ok);
  t.is(k[0]!.subtests.filter((s) => !s.ok).length, 2);
  t.true(k[0]!.subtests.some((s) => s.diagnostics.includes('WARNING: Interrupts were enabled early')), 'the splat as diagnostic lines');
  // a run with only a known issue: skipped with its id, the run itself passes
  const km = cli(['run', 'km', '--cpus', '2', '--seed', '1', '--junit', 'k.xml', '--ktap', 'k.tap'], dir);
  t.is(km.code, 0, km.err);
  const kc = await junit(t, join(dir, 'k.xml'));
  t.true(kc.some((c) => c.skipped?.[0]?.message?.startsWith('known issue km-unzeroed of the 2.6.35 baseline (its mechanism fired)')), JSON.stringify(kc));
  const kk = parseKtap(readFileSync(join(dir, 'k.tap'), 'utf8'));
  t.true(kk[0]!.ok);
  t.true(kk[0]!.subtests.some((s) => s.ok && /^SKIP known issue km-unzeroed/.test(s.directive)));
});

test('fuzz --keep-going, replay and a merge of shards: every finding a failed case, replay confirms its own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-rep-'));
  const args = ['fuzz', 'all', '--inject', 'single-mutex', '--keep-going', '--runs', '60', '--seed', '1', '--quiet', '--shrink-budget', '3s'];
  const whole = cli([...args, '--junit', 'f.xml', '--ktap', 'f.tap', '--json', 'f.json'], dir);
  t.is(whole.code, 1, whole.err);
  const doc = JSON.parse(readFileSync(join(dir, 'f.json'), 'utf8')) as { findings: { signature: string; reproPath: string; violation: { kind: string } }[]; byScenario: Record<string, { runs: number }> };
  t.true(doc.findings.length >= 2, `${doc.findings.length} findings`);
  const fc = await junit(t, join(dir, 'f.xml'));
  const failed = fc.filter((c) => c.failure);
  t.is(failed.length, doc.findings.length, 'one failed case per finding signature');
  for (const f of doc.findings) t.true(failed.some((c) => c.name!.includes(f.signature)), f.signature);
  // a finding's case carries the time spent on it (its scenario's runs and its shrinking), never 0
  for (const c of failed) t.true(c.time! > 0, `${c.name}: time ${c.time}`);
  const fk = parseKtap(readFileSync(join(dir, 'f.tap'), 'utf8'));
  t.is(fk[0]!.subtests.filter((s) => !s.ok).length, doc.findings.length);
  // scenarios the campaign never reached are skipped with the reason, never passed
  for (const c of fc.filter((x) => !x.failure && !x.skipped)) t.true(c.name!.startsWith('fuzz '), c.name);
  // replay: the case is the violation it confirmed
  const f0 = doc.findings[0]!;
  const rp = cli(['replay', f0.reproPath, '--junit', 'r.xml', '--ktap', 'r.tap', '--quiet'], dir);
  t.is(rp.code, 1, rp.err);
  const rc = await junit(t, join(dir, 'r.xml'));
  t.deepEqual(rc.filter((c) => c.failure).map((c) => c.failure![0]!.type), [f0.violation.kind]);
  t.true(rc[0]!.time! > 0, 'replay has its real time');
  t.false(parseKtap(readFileSync(join(dir, 'r.tap'), 'utf8'))[0]!.ok);
  // merge of three shards: every distinct finding reaches CI
  const shards = [1, 2, 3].map((i) => {
    const f = join(dir, `s${i}.json`);
    const r = cli([...args, '--shard', `${i}/3`, '--json', f, '--out', dir], dir);
    t.true(r.code === 0 || r.code === 1, r.err);
    return f;
  });
  const m = cli(['merge', ...shards, '--junit', 'm.xml', '--ktap', 'm.tap', '--json', 'm.json', '--out', dir], dir);
  t.is(m.code, 1, m.err);
  const merged = JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8')) as { findings: unknown[] };
  const mc = await junit(t, join(dir, 'm.xml'));
  t.is(mc.filter((c) => c.failure).length, merged.findings.length);
  const mk = parseKtap(readFileSync(join(dir, 'm.tap'), 'utf8'));
  t.is(mk[0]!.subtests.filter((s) => !s.ok).length, merged.findings.length);
  t.true(readdirSync(dir).some((x) => x.startsWith('repro-')));
});

test('a fuzz stopped after one run: scenarios it never reached are skipped with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-rep-'));
  const r = cli(['fuzz', 'all', '--runs', '1', '--junit', 'f.xml', '--ktap', 'f.tap', '--quiet'], dir);
  t.is(r.code, 0, r.err);
  const cases = await junit(t, join(dir, 'f.xml'));
  t.is(cases.filter((c) => !c.skipped).length, 1, 'the one scenario that ran');
  t.true(cases.filter((c) => c.skipped).every((c) => /^not run: the campaign ended first/.test(c.skipped![0]!.message!)));
  const k = parseKtap(readFileSync(join(dir, 'f.tap'), 'utf8'));
  t.is(k[0]!.subtests.filter((s) => /^SKIP not run/.test(s.directive)).length, cases.length - 1);
});
