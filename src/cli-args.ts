// Argument parsing for the CLI: --name value / --name=value / --flag, every
// option declared with its type, everything else a clear one-line error.

import { UsageError, quote } from './report/errors.ts';

export { UsageError };

export type ArgType = 'int' | 'string' | 'flag' | 'duration' | readonly string[];
export type ArgSpec = Record<string, ArgType>;

export interface ParsedArgs {
  options: Record<string, number | string | boolean>;
  positional: string[];
}

/** "30s", "2m", "500ms" or a plain number of seconds, in milliseconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new UsageError(`bad duration '${v}' (use e.g. 500ms, 20s, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60000);
}

export function parseArgs(argv: string[], spec: ArgSpec, maxPositional: number): ParsedArgs {
  const options: Record<string, number | string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      if (positional.length >= maxPositional) throw new UsageError(`unexpected argument ${quote(arg)}`);
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const type = spec[name];
    if (type === undefined) throw new UsageError(`unknown option ${quote(`--${name}`)}`);
    if (name in options) throw new UsageError(`--${name} given twice`);
    if (type === 'flag') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (type === 'int') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`--${name} must be a non-negative integer, got ${quote(value)}`);
      options[name] = Number(value);
    } else if (type === 'duration') {
      options[name] = parseDuration(value);
    } else if (type === 'string') {
      options[name] = value;
    } else {
      if (!type.includes(value)) throw new UsageError(`--${name} must be one of ${type.join(', ')}, got ${quote(value)}`);
      options[name] = value;
    }
    value = undefined;
  }
  return { options, positional };
}
