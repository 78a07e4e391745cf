// Raw internal locks for the emulated memory managers' own bookkeeping (the
// kernel's zone->lock and slab locks). They are never held across a
// scheduling point, never seen by lockdep, and so never contended in
// controlled mode; in free-running mode they spin briefly and then sleep.

const pause: () => void = (Atomics as unknown as { pause?: () => void }).pause?.bind(Atomics) ?? (() => {});

export function rawLock(w: Int32Array, at: number): void {
  if (Atomics.compareExchange(w, at, 0, 1) === 0) return;
  for (;;) {
    for (let i = 0; i < 200; i++) {
      if (Atomics.load(w, at) === 0 && Atomics.compareExchange(w, at, 0, 1) === 0) return;
      pause();
    }
    if (Atomics.compareExchange(w, at, 0, 1) === 0) return;
    Atomics.wait(w, at, 1, 1);
  }
}

export function rawUnlock(w: Int32Array, at: number): void {
  Atomics.store(w, at, 0);
  Atomics.notify(w, at, 1);
}
