// `percpu-stress bench` (npm run bench).

import { bench, renderBench } from '../explore/bench.ts';
import { Outputs } from '../io/outputs.ts';
import { Progress } from '../render/progress.ts';
import { BENCH } from './commands.ts';
import { parse } from './options.ts';

export async function benchCommand(argv: string[]): Promise<number> {
  const { o } = parse(BENCH, argv);
  const outputs = new Outputs();
  const json = outputs.add('--json', o.json ?? 'bench.json')!;
  const quick = o.quick === true;
  const progress = new Progress();
  const r = await bench({
    kernel: o.kernel,
    throughputOps: quick ? 20_000 : 600_000, cpuCounts: [1, 2, 4, 8], seeds: quick ? 1 : 5, detectCapMs: quick ? 1000 : 6000, detectMaxRuns: quick ? 50 : 5000,
    memory: quick ? { cpus: 8, ops: 50 } : { cpus: 64, ops: 200 },
    controlledRuns: quick ? 3 : 100, startupCpus: quick ? [8] : [8, 64], onStep: (what, fraction) => progress.update(what, fraction ?? -1),
  });
  progress.clear();
  process.stdout.write(renderBench(r));
  if (!outputs.writeAll([[json, () => JSON.stringify(r, null, 2) + '\n']])) return 2;
  process.stdout.write(`results written to ${json.given}\n`);
  return 0;
}
