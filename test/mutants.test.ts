// Bugs put into copies of the allocator on purpose (test/mutants.ts) are
// caught as findings that count: never passed off as a known issue of
// 2.6.35 because they print the same title, and never missed because a
// checker leans on the code it checks. Run counts, not time, bound each.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MUTANTS, buildMutant, removeMutant, runMutant } from './mutants.ts';

const mutant = (name: string) => MUTANTS.find((m) => m.name === name)!;

interface FuzzDoc {
  findings: { violation: { kind: string; title: string }; reproPath: string }[];
  known: Record<string, number>;
}

// each of these printed a known issue's title on the old main and passed as that issue
const LOOKALIKES = [
  ['contig-ignores-small', 'walk-escape', /list walk in pcpu_alloc reached the head of pcpu_slot\[0\]/],
  ['vm-clears-fresh-only', 'km-unzeroed', /is not zeroed/],
  ['bitmap-not-committed', 'map-pages-unwind', /vmap_pte_range/],
] as const;

for (const [name, looksLike, symptom] of LOOKALIKES) {
  test.serial(`a bug with the symptom of ${looksLike} (${name}) fails fuzz all, not counted as the known issue`, (t) => {
    const dir = buildMutant(mutant(name));
    t.teardown(() => removeMutant(dir));
    const r = runMutant(dir, ['fuzz', 'all', '--runs', '400', '--budget', '10m', '--seed', '1', '--quiet', '--json', join(dir, 'f.json')]);
    t.is(r.code, 1, `${r.out}\n${r.err}`);
    const doc = JSON.parse(readFileSync(join(dir, 'f.json'), 'utf8')) as FuzzDoc;
    t.is(doc.findings.length, 1);
    const f = doc.findings[0]!;
    // the known issue's very symptom (or an earlier checker's report of the same bug), and yet a finding
    t.true(symptom.test(f.violation.title) || /departs from 2\.6\.35|invariant violated/.test(f.violation.title), f.violation.title);
    // its repro replays to the same finding, exactly
    const again = runMutant(dir, ['replay', f.reproPath, '--quiet']);
    t.is(again.code, 1, again.out);
    t.regex(again.out, /reproduced: .* as recorded/);
  });
}

test.serial('the invariant checker computes slots itself: an off-by-one in the allocator\'s chunk slot is caught by the slot invariant', (t) => {
  const dir = buildMutant(mutant('chunk-slot-off-by-one'));
  t.teardown(() => removeMutant(dir));
  const r = runMutant(dir, ['single', '--ops', '20000', '--quiet']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /percpu: invariant violated: slot\n \[slot\] chunk \d+ is on pcpu_slot\[0\] but free_size 4/);
});

test.serial('every failure justified: a request of a whole unit refused as illegal (an off-by-one in pcpu_alloc\'s size test) fails run reclaim-race', (t) => {
  const dir = buildMutant(mutant('illegal-size-whole-unit'));
  t.teardown(() => removeMutant(dir));
  const r = runMutant(dir, ['run', 'reclaim-race', '--ops', '400', '--quiet']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /percpu: pcpu_alloc\(\) warned of an illegal request that is legal \(size 32768, align \d+\)/);
});

test.serial('progress judged on the kernel\'s own work: a reclaim that returns on a failed trylock fails fuzz reclaim-race, and its repro replays', (t) => {
  const dir = buildMutant(mutant('reclaim-trylock-noop'));
  t.teardown(() => removeMutant(dir));
  const r = runMutant(dir, ['fuzz', 'reclaim-race', '--runs', '30', '--budget', '10m', '--seed', '1', '--quiet']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /^percpu: pcpu_reclaim_work ran and did not do its job/m);
  const again = runMutant(dir, ['replay', r.repros[0]!, '--quiet']);
  t.regex(again.out, /reproduced: spec at step \d+, as recorded/);
});

test.serial('known issues by the exact path: fuzz phys-lookup --backend km with pcpu_addr_in_first_chunk broken for unit 0 fails, not filed as ptr-to-phys-offset', (t) => {
  const dir = buildMutant(mutant('phys-unit0-page-path'));
  t.teardown(() => removeMutant(dir));
  const r = runMutant(dir, ['fuzz', 'phys-lookup', '--backend', 'km', '--runs', '40', '--budget', '10m', '--seed', '1', '--quiet']);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /^BUG: per_cpu_ptr_to_phys\(\) returned a wrong physical address$/m);
});
