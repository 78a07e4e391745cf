// The tool version recorded in JSON results and repro files.
export const VERSION = '0.1.0';
