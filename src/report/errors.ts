// Bad input of any kind (flags, scenario files, repro files, trace input,
// output paths): the CLI prints its message as one line and exits 2.
export class UsageError extends Error {}
