// Config validation: every bad value is refused with a message naming it.

import test from 'ava';
import { ConfigError, makeConfig } from '../src/shm/config.ts';
import { planMachine } from '../src/run/machine.ts';
import { choice, duration, flag, int, parse, parseDuration } from '../src/cli/options.ts';
import { UsageError } from '../src/report/errors.ts';

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

test('CLI arguments: parsed against a typed spec; types, bounds, repeats and unknown options are one-line errors', (t) => {
  const cmd = {
    name: 'demo', args: '[x]', maxPositional: 1, summary: '', description: '',
    options: { seed: int('s', { default: '1' }), cpus: int('c', { min: 1, max: 64 }), backend: choice('b', ['vm', 'km'] as const), quiet: flag('q'), duration: duration('d', { min: 100 }) },
  };
  const r = parse(cmd, ['--seed', '7', '--backend=km', '--quiet', 'x', '--duration', '2m']);
  t.deepEqual(r, { o: { seed: 7, backend: 'km', quiet: true, duration: 120000 }, positional: ['x'] });
  // typed: seed is a number, backend one of its choices
  const seed: number | undefined = r.o.seed;
  const backend: 'vm' | 'km' | undefined = r.o.backend;
  t.is(seed! + 1, 8);
  t.is(backend, 'km');
  t.throws(() => parse(cmd, ['--seed', 'x']), { instanceOf: UsageError, message: /--seed must be a non-negative integer/ });
  t.throws(() => parse(cmd, ['--cpus', '65']), { message: /--cpus must be in 1\.\.64, got 65/ });
  t.throws(() => parse(cmd, ['--backend', 'nope']), { message: /--backend must be one of vm, km/ });
  t.throws(() => parse(cmd, ['--bogus']), { message: /unknown option "--bogus" for demo/ });
  t.throws(() => parse(cmd, ['--seed']), { message: /--seed needs a value/ });
  t.throws(() => parse(cmd, ['--seed', '--quiet']), { message: /--seed needs a value/ });
  t.throws(() => parse(cmd, ['--quiet=yes']), { message: /--quiet takes no value/ });
  t.throws(() => parse(cmd, ['--seed', '1', '--seed=2']), { message: /--seed given twice/ });
  t.throws(() => parse(cmd, ['a', 'b']), { message: /unexpected argument "b"/ });
  t.throws(() => parse(cmd, ['--duration', '50ms']), { message: /--duration must be at least 100ms/ });
  t.is(parseDuration('20s'), 20000);
  t.is(parseDuration('500ms'), 500);
  t.throws(() => parseDuration('soon', '--budget'), { message: /--budget: bad duration "soon"/ });
});
