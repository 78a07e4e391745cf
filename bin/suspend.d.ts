// Types of bin/suspend.js for the tests that import it.
export interface SuspendingForm {
  errors: string[];
  files: Map<string, string>;
  converted: string[];
  roots?: string[];
}
export function suspendingForm(o: { root: string; entries: string[]; compilerOptions?: object; forget?: string[] }): SuspendingForm;
