// Scenarios from a file: `percpu-stress run ./my-scenario.ts`. The file has
// the shape of the built-in scenarios (scenarios/*.ts) and exports one as
// its default export (or as `scenario`). It is bundled with esbuild (the
// build tool the project already uses) into one CommonJS module in a
// temporary directory and loaded on the main thread; its programs are
// generated there and handed to the CPU threads like a repro's.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { SCENARIOS, registerExternal, scenarioByName } from '../../scenarios/index.ts';
import type { Scenario } from '../../scenarios/lib/scenario.ts';
import { OP_WORDS } from '../../scenarios/lib/program.ts';
import { UsageError } from '../report/errors.ts';
import { quote } from '../report/errors.ts';

const loaded = new Map<string, Scenario>();

/** Does a scenario argument name a file rather than a built-in scenario? */
export function isScenarioPath(arg: string): boolean {
  return arg.includes('/') || /\.(ts|mts|js|mjs|cjs)$/.test(arg);
}

function bad(path: string, why: string): never {
  throw new UsageError(`scenario file ${path}: ${why}`);
}

/** Load, check and register the scenario a file exports (once per path). */
export function loadScenarioFile(arg: string): Scenario {
  const path = resolve(arg);
  const done = loaded.get(path);
  if (done) return done;
  try {
    if (!statSync(path).isFile()) bad(arg, 'not a file');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    bad(arg, (e as NodeJS.ErrnoException).code ?? 'cannot read it');
  }
  const dir = mkdtempSync(join(tmpdir(), 'percpu-scenario-'));
  const out = join(dir, 'scenario.cjs');
  let mod: Record<string, unknown>;
  try {
    try {
      buildSync({ entryPoints: [path], bundle: true, platform: 'node', format: 'cjs', outfile: out, logLevel: 'silent', target: 'node20' });
    } catch (e) {
      const first = (e as { errors?: { text: string; location?: { line: number; column: number } | null }[] }).errors?.[0];
      bad(arg, first ? `${first.location ? `line ${first.location.line}: ` : ''}${first.text}` : 'does not compile');
    }
    try {
      mod = createRequire(import.meta.url)(out) as Record<string, unknown>;
    } catch (e) {
      bad(arg, `loading it threw: ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const s = (mod.default ?? mod.scenario) as Partial<Scenario> | undefined;
  if (typeof s !== 'object' || s === null) bad(arg, 'exports no scenario (export default { name, description, config, program })');
  if (typeof s.name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,39}$/.test(s.name)) bad(arg, `name: expected 1-40 lower-case letters, digits and dashes, got ${quote(String(s.name))}`);
  if (scenarioByName(s.name) || SCENARIOS.some((b) => b.name === s.name)) bad(arg, `name: ${quote(s.name)} is a built-in scenario`);
  if (typeof s.description !== 'string' || s.description.length === 0) bad(arg, 'description: expected a one-line description');
  if (typeof s.config !== 'function') bad(arg, 'config: expected a function (cpus, seed) => machine config');
  if (typeof s.program !== 'function') bad(arg, 'program: expected a function (ctx) => Int32Array');
  if (s.boot !== undefined) bad(arg, 'boot: early-boot programs run on the CPU threads and are for built-in scenarios only');
  if (s.fail !== undefined && typeof s.fail !== 'function') bad(arg, 'fail: expected a function (seed) => failure injection spec');
  for (const k of ['fuzzOps', 'minOps'] as const) {
    const v = s[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1 || v > 100_000)) bad(arg, `${k}: expected an integer in 1..100000, got ${quote(String(v))}`);
  }
  // try it once: the config and a short program of each of two CPUs
  try {
    const cfg = s.config(2, 1);
    if (typeof cfg !== 'object' || cfg === null) bad(arg, 'config(2, 1) returned no object');
    for (const cpu of [0, 1]) {
      const p = s.program.call(s, { cpu, cpus: 2, seed: 1, ops: 20, batch: 0 });
      if (!(p instanceof Int32Array) || p.length % OP_WORDS !== 0) bad(arg, `program() must return an Int32Array of ${OP_WORDS}-word ops (use the ProgramBuilder of scenarios/lib)`);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    bad(arg, `trying it threw: ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
  }
  const sc = s as Scenario;
  registerExternal(sc, path);
  loaded.set(path, sc);
  return sc;
}
