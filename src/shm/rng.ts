// A deterministic PRNG whose whole state is four words of shared memory
// (xoshiro128**), so that whichever thread draws next continues the same
// sequence: failure injection and controlled scheduling draw from it.
// seedrandom (used for program generation) keeps its state in a JS object
// and cannot be shared between threads.

export function rngSeed(w: Int32Array, at: number, seed: number): void {
  // splitmix32 spreads a small seed over the four state words
  let s = seed >>> 0;
  for (let i = 0; i < 4; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    w[at + i] = (z ^ (z >>> 16)) | 0;
  }
  if ((w[at]! | w[at + 1]! | w[at + 2]! | w[at + 3]!) === 0) w[at] = 1;
}

/** Next 32 random bits as an unsigned number. */
export function rngNext(w: Int32Array, at: number): number {
  const s0 = w[at]!, s1 = w[at + 1]!, s2 = w[at + 2]!, s3 = w[at + 3]!;
  const x = Math.imul(s1, 5);
  const result = Math.imul((x << 7) | (x >>> 25), 9);
  const t = s1 << 9;
  const n2 = s2 ^ s0;
  const n3 = s3 ^ s1;
  const n1 = s1 ^ n2;
  const n0 = s0 ^ n3;
  w[at] = n0;
  w[at + 1] = n1;
  w[at + 2] = n2 ^ t;
  w[at + 3] = (n3 << 11) | (n3 >>> 21);
  return result >>> 0;
}

/** Uniform integer in [0, n). */
export function rngBelow(w: Int32Array, at: number, n: number): number {
  return Math.floor((rngNext(w, at) / 0x100000000) * n);
}
