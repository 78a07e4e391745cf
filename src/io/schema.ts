// The JSON Schemas of what users hand the tool (repro files, fuzz results
// for merge, suppressions), shipped in schemas/ and checked with Ajv, a
// well-kept JSON Schema validator (hand-written field checks drift from the
// files the tool writes; a schema is also what a user's own tooling reads).
// Each input is checked against its schema first; the checks a schema cannot
// state (a bug name that exists, a program that fits the machine) follow in
// the reader. The first error is one line naming the field.

import AjvModule from 'ajv';
import type { ValidateFunction } from 'ajv';
import repro from '../../schemas/repro.schema.json' with { type: 'json' };
import shard from '../../schemas/shard.schema.json' with { type: 'json' };
import suppressions from '../../schemas/suppressions.schema.json' with { type: 'json' };

export const SCHEMAS = { repro, shard, suppressions } as const;
export type SchemaName = keyof typeof SCHEMAS;

type AjvClass = typeof AjvModule.default;
const Ajv: AjvClass = (AjvModule as unknown as { default?: AjvClass }).default ?? (AjvModule as unknown as AjvClass);

let ajv: InstanceType<AjvClass> | null = null;
const compiled = new Map<SchemaName, ValidateFunction>();

function validator(name: SchemaName): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    ajv ??= new Ajv({ allErrors: false, strict: true, schemas: [SCHEMAS.repro] });
    v = name === 'repro' ? ajv.getSchema(SCHEMAS.repro.$id)! : ajv.compile(SCHEMAS[name]);
    compiled.set(name, v);
  }
  return v;
}

/** "/findings/0/repro/cpus" as "findings[0].repro.cpus". */
function fieldOf(pointer: string): string {
  return pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((s, p) => (/^\d+$/.test(p) ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

/** Check `data` against a schema; the first error is thrown as `fail(one line)`. */
export function checkSchema(name: SchemaName, data: unknown, where: string, fail: (why: string) => Error): void {
  const v = validator(name);
  if (v(data)) return;
  // the deepest error says most (of "must be null" and "schedule must match", the second)
  const e = v.errors!.reduce((a, b) => (b.instancePath.length > a.instancePath.length ? b : a));
  const field = fieldOf(e.instancePath);
  let why = e.message ?? 'is not valid';
  if (e.keyword === 'enum') why = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((x) => JSON.stringify(x)).join(', ')}`;
  if (e.keyword === 'additionalProperties') why = `has an unknown field ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  if (e.keyword === 'const') why = `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  throw fail(`${where}: ${field || '(the whole file)'} ${why}`.slice(0, 300));
}
