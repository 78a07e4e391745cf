// Size and alignment mixes: what sizes the random scenarios allocate.
// A mix is a flat list of [size, align] pairs, picked uniformly. The
// standard mix keeps to sizes of 4 bytes and more at natural alignment;
// the others reach what it never does: 1-3-byte areas, heads and holes
// under 4 bytes (where 2.6.35 joins a head to the previous block and keeps
// a tail inside the allocation), odd sizes and over-alignment.

/** A size mix: up to this many [size, align] pairs (the runner's control block has room for as many). */
export const MAX_SIZE_PAIRS = 32;
import { UsageError } from '../../src/report/errors.ts';

export type SizeMix = Int32Array;

function pairs(xs: readonly (readonly [number, number])[]): SizeMix {
  return Int32Array.from(xs.flat());
}

export const SIZE_MIXES: Readonly<Record<string, { mix: SizeMix; what: string }>> = {
  std: { mix: pairs([4, 8, 16, 32, 64, 128, 256, 1024, 4096].map((s) => [s, Math.min(s, 8)] as const)), what: '4..4096 bytes at natural alignment (up to 8)' },
  tiny: {
    mix: pairs([[1, 1], [2, 1], [2, 2], [3, 1], [3, 1], [4, 1], [4, 4], [5, 1], [6, 2], [7, 1], [8, 4], [12, 4]]),
    what: '1..12 bytes, alignment 1..4: heads, tails and holes under 4 bytes',
  },
  odd: {
    mix: pairs([[1, 1], [3, 1], [5, 4], [7, 8], [9, 1], [13, 16], [17, 2], [31, 32], [33, 1], [63, 64], [65, 8], [97, 16], [129, 128], [255, 1]]),
    what: 'odd sizes with odd and over-sized alignments',
  },
  mixed: {
    mix: pairs([[1, 1], [2, 2], [3, 1], [4, 4], [5, 1], [7, 8], [8, 8], [16, 8], [33, 1], [64, 8], [256, 8], [1024, 8], [4096, 8], [13, 16]]),
    what: 'the standard sizes with tiny and odd ones among them',
  },
};

/**
 * A --sizes value: a named mix, or a list of SIZE[:ALIGN] (ALIGN a power of
 * two, default the largest power of two up to min(SIZE, 8)).
 */
export function parseSizes(spec: string, pageSize = 4096, maxSize = 32768): SizeMix {
  // (own names only: "constructor" or "__proto__" is no mix)
  if (Object.hasOwn(SIZE_MIXES, spec)) return SIZE_MIXES[spec]!.mix;
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?::(\d+))?$/.exec(part.trim());
    if (!m) throw new UsageError(`--sizes: '${part.slice(0, 40)}' is neither a mix (${Object.keys(SIZE_MIXES).join(', ')}) nor SIZE[:ALIGN]`);
    const size = Number(m[1]);
    if (size < 1 || size > maxSize) throw new UsageError(`--sizes: size ${m[1]!.slice(0, 12)} is outside 1..${maxSize}`);
    const align = m[2] === undefined ? 1 << (31 - Math.clz32(Math.min(size, 8))) : Number(m[2]);
    if (align > pageSize) throw new UsageError(`--sizes: alignment ${m[2]!.slice(0, 12)} is larger than the page size (${pageSize})`);
    if (align < 1 || (align & (align - 1)) !== 0) throw new UsageError(`--sizes: alignment ${m[2]!.slice(0, 12)} is not a power of two`);
    out.push(size, align);
  }
  if (out.length / 2 > MAX_SIZE_PAIRS) throw new UsageError(`--sizes: at most ${MAX_SIZE_PAIRS} sizes`);
  return Int32Array.from(out);
}

export function describeSizes(mix: SizeMix): string {
  for (const [name, m] of Object.entries(SIZE_MIXES)) if (m.mix.length === mix.length && m.mix.every((v, i) => v === mix[i])) return name;
  const parts: string[] = [];
  for (let i = 0; i < mix.length; i += 2) parts.push(`${mix[i]}:${mix[i + 1]}`);
  return parts.join(',');
}
