/**
 * Bumped whenever a control or agent message changes shape. The CLI and the
 * daemon compare it in the first exchange of every connection.
 */
export const PROTOCOL_VERSION = 6;

// Read at run time so the compiled output needs no JSON import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const HERD_VERSION: string = (require('../../package.json') as { version: string }).version;
