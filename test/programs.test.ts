// The op-by-op program check (scenarios/lib/program.ts, checkProgram): every
// program a built-in scenario generates passes it, and each kind of bad op a
// scenario file or a repro could hold is refused with the op named.

import test from 'ava';
import { SCENARIOS, scenarioByName } from '../scenarios/index.ts';
import { MAX_BURST, MAX_DELAY, Op, OP_WORDS, checkProgram, programFromJson } from '../scenarios/lib/program.ts';
import { parseSizes } from '../scenarios/lib/sizes.ts';

test('every program of every built-in scenario passes the check (cpus 1..8, seeds, batches, size mixes)', (t) => {
  let ops = 0;
  const mixes = [undefined, parseSizes('tiny'), parseSizes('8,64:64,4096:4096')];
  for (const s of [...SCENARIOS, scenarioByName('bench-mix')!]) {
    for (const cpus of [1, 2, 3, 4, 8]) {
      for (const seed of [1, 2, 3, 0x7fffffff]) {
        for (const batch of [0, 1]) {
          for (const sizes of mixes) {
            for (let cpu = 0; cpu < cpus; cpu++) {
              const p = s.program({ cpu, cpus, seed, ops: 300, batch, sizes });
              checkProgram(p, cpus, `${s.name} cpu${cpu}/${cpus} seed ${seed} batch ${batch}`);
              ops += p.length / OP_WORDS;
            }
          }
        }
      }
    }
  }
  t.true(ops > 100_000, `${ops} ops checked`);
});

const bad: [string, number[], RegExp][] = [
  ['unknown op code', [99, 0, 0, 0], /unknown code 99/],
  ['slot out of range', [Op.alloc, 1000, 8, 8], /slot 1000/],
  ['negative slot', [Op.free, -1, 0, 0], /slot -1/],
  ['alloc size 0', [Op.alloc, 0, 0, 8], /size 0/],
  ['align 0', [Op.alloc, 0, 8, 0], /align 0 is below 1/],
  ['align word with stray bits', [Op.alloc, 0, 8, 0x800008], /bits other than/],
  ['alloc mask out of range', [Op.alloc, 0, 8, 8 | (7 << 17)], /mask 7 is not one of/],
  ['alloc context out of range', [Op.alloc, 0, 8, 8 | (7 << 20)], /context 7 is not/],
  ['interrupt allocation reserved', [Op.irqalloc, 0, 8, 8 | (1 << 16)], /cannot be reserved/],
  ['interrupt allocation aimed at a missing CPU', [Op.irqalloc, 3, 8, 8], /cpu3, the machine has 2 CPUs/],
  ['free context', [Op.free, 0, 7, 0], /free context 7/],
  ['interrupt aimed at a missing CPU', [Op.irqfree, 0, 5, 0], /cpu5, the machine has 2 CPUs/],
  ['phys of a missing CPU', [Op.phys, 0, -1, 0], /cpu-1/],
  ['burst too large', [Op.burst, 1_000_000, 8, 8], new RegExp(`0\\.\\.${MAX_BURST} areas`)],
  ['burst of size 0', [Op.burst, 4, 0, 8], /size 0/],
  ['unburst too large', [Op.unburst, MAX_BURST + 1, 0, 0], /unburst/],
  ['delay too long', [Op.delay, MAX_DELAY + 1, 0, 0], /delay/],
  ['kernel lock id', [Op.lock, 0, 0, 0], /only the test locks/],
  ['unknown completion', [Op.wait, 9999, 0, 0], /only completions/],
  ['unused word set', [Op.touch, 0, 3, 0], /unused ones must be 0/],
];

for (const [what, op, re] of bad) {
  test(`refused: ${what}`, (t) => {
    const p = Int32Array.from([Op.alloc, 0, 8, 8, ...op]);
    const e = t.throws(() => checkProgram(p, 2, 'cpu0'), { instanceOf: TypeError });
    t.regex(e!.message, /^cpu0: op 1 \(/);
    t.regex(e!.message, re);
  });
}

test('JSON programs: words outside 32 bits and malformed ops are refused before the op check', (t) => {
  t.throws(() => programFromJson([[Op.alloc, 0, 2 ** 32, 8]], 'p', 2), { message: /32 bits/ });
  t.throws(() => programFromJson([[Op.alloc, 0, 8]], 'p', 2), { message: /\[op, a, b, c\]/ });
  t.throws(() => programFromJson({}, 'p', 2), { message: /array of ops/ });
  t.deepEqual([...programFromJson([[Op.alloc, 3, 64, 8]], 'p', 2)], [Op.alloc, 3, 64, 8]);
});
