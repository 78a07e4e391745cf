// `percpu-stress bench` (npm run bench).

import { parseArgs } from '../cli-args.ts';
import { bench, renderBench } from '../explore/bench.ts';
import { checkWritable, writeAtomic } from '../io/files.ts';
import { Progress } from '../render/progress.ts';

export async function benchCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { json: 'string', quick: 'flag' }, 0);
  const json = checkWritable((a.options.json as string | undefined) ?? 'bench.json', '--json');
  const quick = a.options.quick === true;
  const progress = new Progress();
  const r = await bench({
    throughputMs: quick ? 200 : 3000, cpuCounts: [1, 2, 4, 8], seeds: quick ? 1 : 5, detectCapMs: quick ? 1000 : 6000,
    controlledRuns: quick ? 3 : 100, startupCpus: quick ? [8] : [8, 64], onStep: (what) => progress.update(what, 0),
  });
  progress.clear();
  process.stdout.write(renderBench(r));
  writeAtomic(json, JSON.stringify(r, null, 2) + '\n');
  process.stdout.write(`results written to ${json}\n`);
  return 0;
}
