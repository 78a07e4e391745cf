// The controlled scheduler's shared records: its state words, per-entity
// priorities and wake words, PCT's change points, and the recorded and
// replayed schedules.

export enum SC {
  TOKEN, MODE, STEP, SWITCHES, RNG0, RNG1, RNG2, RNG3, DEPTH, CHANGES_DONE, EXPECTED_STEPS, REC_LEN, REC_OVERFLOW,
  REPLAY_POS, REPLAY_LEFT, REPLAY_LEN, DIVERGED, MAX_STEPS, PREEMPTIONS, IRQS, POS_RES, SIZE,
}
export const MAX_CHANGE_POINTS = 16;
