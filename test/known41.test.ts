// Linux 4.1's known issues: each one's minimal repro (found by the harness,
// test/fixtures/repros-4.1/) replays 3 times out of 3 to the same report,
// which is marked known only because its mechanism fired and the replay with
// the fix switched on no longer shows it; with the fixes booted, the same
// programs and schedule show nothing of it. And a mechanism that did not
// fire claims nothing.

import test from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { machine, sharedRunner } from './helpers.ts';
import { readRepro, reproPrograms, reproScenario, type Repro } from '../src/explore/repro.ts';
import { decodeSchedule } from '../src/sched/schedule.ts';
import { Mode } from '../src/sched/strategy.ts';
import { fixFor, generation } from '../src/run/kernels.ts';
import { KNOWN_ISSUES_41, Mechanism41Recorder, attributeMechanism41, attributeQuiescent41 } from '../src/check/4.1/known.ts';
import type { Percpu } from '../src/percpu/4.1/core.ts';
import type { Violation } from '../src/report/violation.ts';
import type { Backend } from '../src/shm/config.ts';
import { ShadowStamps } from '../src/check/shadow.ts';
import { scenarioByName } from '../scenarios/index.ts';
import { deriveSeed } from '../src/explore/fuzz.ts';

const DIR = new URL('./fixtures/repros-4.1/', import.meta.url).pathname;
const shared = sharedRunner();

function replayOf(r: Repro, fixes = 0, verifyKnown = true) {
  return shared().run({
    scenario: reproScenario(r), cpus: r.cpus, seed: r.seed, kernel: '4.1', backend: (r.backend ?? undefined) as Backend | undefined,
    programs: reproPrograms(r), strategy: Mode.replay, schedule: decodeSchedule(r.schedule), fixes, verifyKnown,
  });
}

const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

test('every 4.1 known issue has a minimal repro found by the harness, and every repro is one', (t) => {
  t.deepEqual(fixtures.map((f) => f.replace(/\.json$/, '')), KNOWN_ISSUES_41.map((k) => k.id).sort());
  for (const k of KNOWN_ISSUES_41) t.truthy(fixFor('4.1', k.id), `${k.id} has its fix`);
});

for (const f of fixtures) {
  const id = f.replace(/\.json$/, '');
  test.serial(`4.1 known issue ${id}: its repro replays 3 of 3, fix-verified; with the fixes booted it is gone`, async (t) => {
    const r = readRepro(join(DIR, f));
    t.is(r.kernel, '4.1');
    const seen: string[] = [];
    let fixes = 0;
    for (let i = 0; i < 3; i++) {
      const res = await replayOf(r);
      for (const x of res.violations) if (x.known !== undefined) fixes |= fixFor('4.1', x.known)!.bit;
      const v = res.violations.find((x) => x.kind === r.violation.kind && x.title === r.violation.title);
      t.truthy(v, `replay ${i + 1}: ${res.violations.map((x) => x.title).join(' | ')}`);
      t.is(v?.known, id, `replay ${i + 1}: ${v?.notKnown ?? ''}`);
      t.is(v?.knownProof, 'fix-verified');
      // nothing but known issues: the baseline's own
      t.deepEqual(res.violations.filter((x) => x.known === undefined).map((x) => x.title), []);
      seen.push(`${v?.step}`);
    }
    t.is(new Set(seen).size, 1, `the same step each time: ${seen.join(', ')}`);
    // the fixes of every known issue the run showed booted (as the verification boots them: another issue's
    // mechanism may break the same count), no verification: the report is not there
    t.not(fixes & fixFor('4.1', id)!.bit, 0);
    const fixed = await replayOf(r, fixes, false);
    t.false(fixed.violations.some((x) => x.kind === r.violation.kind && x.title === r.violation.title), fixed.violations.map((x) => x.title).join(' | '));
  });
}

const fake = (kind: string, title: string, details: Record<string, unknown>): Violation =>
  ({ kind, title, details, cpu: 0, step: 0, text: '', held: [], stack: [], fatal: false }) as unknown as Violation;

test('a 4.1 mechanism claims a report only when it fired, for this very report', (t) => {
  const { k } = machine({ kernel: '4.1', cpus: 2 });
  const cpu = k.cpu(0);
  const rec = (k.pcpu as Percpu).known as Mechanism41Recorder;
  const a = (v: Violation, c = cpu): string | undefined => attributeMechanism41(k.shm, c, v);
  // empty-pop-unlocked: the write pcpu_alloc makes with no lock, not any write of the field
  const store = fake('lock-discipline', 'WARNING: suspicious percpu data access', { field: 'pcpu_nr_empty_pop_pages', function: 'pcpu_alloc', access: 'write' });
  t.is(a(store), undefined);
  rec.emptyPopUnlocked(cpu);
  t.is(a(store), 'empty-pop-unlocked');
  t.is(a(store, k.cpu(1)), undefined, 'another CPU made no such store');
  rec.walkDone(cpu);
  t.is(a(store), undefined, 'the next allocation');
  // a race on the field: the pcpu_alloc side must have made an unlocked store
  const race = (e: number): Violation => fake('data-race', 'x', { field: 'pcpu_nr_empty_pop_pages', functions: ['free_percpu', 'pcpu_alloc'], entities: [1, e] });
  t.is(a(race(0)), 'empty-pop-unlocked');
  t.is(a(race(1)), undefined);
  // the count at quiescence: only an update really lost (a store over another made since the read), not a race report
  const drift = fake('invariant', 'percpu: invariant violated at quiescence: empty-pop-pages', { invariant: 'empty-pop-pages' });
  t.is(attributeQuiescent41(k.shm, drift), undefined, 'races reported, no update lost');
  rec.countStored(cpu, 7, 7);
  t.is(attributeQuiescent41(k.shm, drift), undefined, 'a store over what it read');
  rec.countStored(cpu, 7, 8);
  t.is(attributeQuiescent41(k.shm, drift), 'empty-pop-unlocked', 'a store over another one');
  t.is(attributeQuiescent41(k.shm, fake('invariant', 'x', { invariant: 'first-free' })), undefined);
  // align-not-pow2: an odd alignment's misaligned area, aligned to its power-of-two factor as ALIGN()'s mask gives
  const mis = (align: number, ptr: number): Violation => fake('spec', 'x', { check: 'alignment', align, ptr });
  t.is(a(mis(8, 4100)), undefined, 'a power of two misaligned: not this issue');
  t.is(a(mis(6, 4100)), 'align-not-pow2');
  t.is(a(mis(12, 4098)), undefined, '4098 is not even a multiple of 4: something else misaligned it');
  t.is(a(fake('spec', 'percpu: first-fit: the allocator departs from 4.1', { check: 'first-fit' })), undefined);
  // head-before-map: the read of this very map's word -1
  const c = k.st.firstChunk;
  const oob = (at: number, offset: number): Violation => fake('out-of-bounds', 'x', { at, offset, write: false });
  t.is(a(oob(k.st.map(c), -4)), undefined);
  rec.headBeforeMap(cpu, c);
  t.is(a(oob(k.st.map(c), -4)), 'head-before-map');
  t.is(a(oob(k.st.map(c), 4096)), undefined);
  // extend-work-freed: the work the balance work's destroy left queued, not any work freed
  const odebug = fake('debug-objects', 'x', { function: 'pcpu_map_extend_workfn', work: k.st.extendWork(c) });
  t.is(a(odebug), undefined);
  // extend-vs-destroy: inside an extension without the mutex, of a record that stayed its chunk: nothing
  rec.extendBegin(cpu, c);
  t.is(a(fake('use-after-free', 'x', {})), undefined, 'the first chunk is never destroyed');
  rec.extendDone(cpu);
  t.is(generation('4.1').knownIssues, KNOWN_ISSUES_41);
});

test('the caller\'s alignment is checked from the outside: an area at no multiple of the align asked for is reported, once a run', (t) => {
  const { k } = machine({ kernel: '4.1', cpus: 2 });
  const shadow = new ShadowStamps(k.st, k.pcpu);
  const cpu = k.cpu(0);
  shadow.aligned(cpu, 4096 + 48, 8, 16);
  shadow.aligned(cpu, 4098, 8, 6);
  t.deepEqual(k.violations.map((v) => v.title), []);
  shadow.aligned(cpu, 4100, 8, 6);
  shadow.aligned(cpu, 4102, 8, 12);
  t.deepEqual(k.violations.map((v) => v.title), ['percpu: pcpu_alloc returned an area misaligned for its request (align 6)']);
  t.like(k.violations[0]!.details, { check: 'alignment', align: 6 });
});

test.serial('4.1 with every fix booted shows nothing under every strategy: the fixes are complete and boot together', async (t) => {
  const all = (1 << generation('4.1').fixes.length) - 1;
  const seen: string[] = [];
  let runs = 0;
  for (const name of ['oom', 'oom-atomic', 'balance-race', 'atomic-exhaust', 'atomic-km', 'tiny-sizes', 'odd-requests', 'atomic-contexts']) {
    for (let i = 0; i < 8; i++) {
      const res = await shared().run({
        scenario: scenarioByName(name)!, cpus: 3, seed: deriveSeed(5, i), kernel: '4.1', strategy: [Mode.random, Mode.pct, Mode.pos, Mode.urw][i % 4]!,
        depth: 3, ops: 30, fixes: all, verifyKnown: false,
      });
      runs++;
      for (const v of res.violations) seen.push(`${name} seed ${i}: ${v.kind}: ${v.title}`);
    }
  }
  t.is(runs, 64);
  t.deepEqual(seen, []);
});

test.serial('the failure checker judges each run by the fixes it boots: 4.10\'s alignment rule holds in a run with the fix and not in the next run without it, on the same machine', async (t) => {
  const all = (1 << generation('4.1').fixes.length) - 1;
  const o = { scenario: scenarioByName('odd-requests')!, cpus: 3, seed: deriveSeed(5, 6), kernel: '4.1' as const, strategy: Mode.pct, depth: 3, ops: 30, verifyKnown: false };
  const judged = (r: { violations: Violation[] }) => r.violations.filter((v) => v.details?.check === 'failure-justified').map((v) => v.title);
  // with the fix, an odd alignment is refused with its WARN: justified
  t.deepEqual(judged(await shared().run({ ...o, fixes: all })), []);
  // without it, 4.1 serves the odd alignment: legal by 4.1's rules, so nothing to justify (its misalignment is the known issue)
  const faithful = await shared().run(o);
  t.deepEqual(judged(faithful), []);
  t.true(faithful.violations.some((v) => v.mechanism === 'align-not-pow2'), faithful.violations.map((v) => v.title).join('\n'));
});
