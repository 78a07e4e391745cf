// Config validation: every bad value is refused with a message naming it.

import test from 'ava';
import { ConfigError, makeConfig } from '../src/shm/config.ts';
import { planMachine } from '../src/run/machine.ts';
import { parseArgs, parseDuration, UsageError } from '../src/cli-args.ts';

const BAD: [string, object, RegExp][] = [
  ['no CPUs', { cpus: 0 }, /cpus must be an integer in \[1, 64\]/],
  ['too many CPUs', { cpus: 65 }, /cpus must be an integer in \[1, 64\]/],
  ['page size not a power of two', { pageSize: 3000 }, /pageSize must be a power of two/],
  ['unit not page aligned', { unitSize: 33000 }, /not a multiple of the page size/],
  ['unit below the minimum', { unitSize: 16384 }, /below PCPU_MIN_UNIT_SIZE/],
  ['unit smaller than its areas', { unitSize: 32768, staticSize: 30000, reservedSize: 8192 }, /smaller than static\+reserved\+dyn/],
  ['no static area', { staticSize: 0 }, /staticSize must be an integer/],
  ['unknown backend', { backend: 'zz' }, /backend must be vm or km/],
  ['unknown first chunk', { firstChunk: 'lpage' }, /firstChunk must be embed or page/],
  ['nodes of the wrong length', { cpus: 2, nodes: [0] }, /nodes lists 1 CPUs, expected 2/],
  ['km with two nodes', { cpus: 2, nodes: [0, 1], backend: 'km' }, /km backend cannot handle more than one group/],
  ['km with the page first chunk', { backend: 'km', firstChunk: 'page' }, /incompatible with the page first chunk/],
  ['unknown key', { cpu: 2 }, /unknown config key 'cpu'/],
];

for (const [name, partial, pattern] of BAD) {
  test(`config refuses ${name}`, (t) => {
    const e = t.throws(() => makeConfig(partial as never), { instanceOf: ConfigError });
    t.regex(e.message, pattern);
  });
}

test('defaults describe a 4-CPU vm machine with the kernel module reserve', (t) => {
  const spec = planMachine();
  t.is(spec.cfg.cpus, 4);
  t.is(spec.cfg.backend, 'vm');
  t.is(spec.ai.unitSize, 32768);
  t.is(spec.ai.reservedSize, 8192);
});

test('CLI arguments: types and unknown options are checked', (t) => {
  const spec = { seed: 'int', backend: ['vm', 'km'], quiet: 'flag', duration: 'duration' } as const;
  t.deepEqual(parseArgs(['--seed', '7', '--backend=km', '--quiet', 'x'], spec, 1), { options: { seed: 7, backend: 'km', quiet: true }, positional: ['x'] });
  t.throws(() => parseArgs(['--seed', 'x'], spec, 0), { instanceOf: UsageError, message: /--seed must be a non-negative integer/ });
  t.throws(() => parseArgs(['--backend', 'nope'], spec, 0), { message: /--backend must be one of vm, km/ });
  t.throws(() => parseArgs(['--bogus'], spec, 0), { message: /unknown option "--bogus"/ });
  t.throws(() => parseArgs(['--seed'], spec, 0), { message: /--seed needs a value/ });
  t.throws(() => parseArgs(['a', 'b'], spec, 1), { message: /unexpected argument "b"/ });
  t.is(parseDuration('20s'), 20000);
  t.is(parseDuration('2m'), 120000);
  t.is(parseDuration('500ms'), 500);
  t.throws(() => parseDuration('soon'), { message: /bad duration 'soon'/ });
});
