import { HerdError, type ErrorCode } from '../errors';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  'HERD_ERR_USAGE', 'HERD_ERR_CONFIG_INVALID', 'HERD_ERR_CONFIG_NOT_FOUND', 'HERD_ERR_SCRIPT_NOT_FOUND', 'HERD_ERR_NOT_A_TERMINAL',
  'HERD_ERR_CRON_INVALID', 'HERD_ERR_USER', 'HERD_ERR_DUMP_INVALID', 'HERD_ERR_LB_STATIC',
]);

export function exitCodeFor(err: unknown): number {
  return err instanceof HerdError && USAGE_CODES.has(err.code) ? EXIT.usage : EXIT.failed;
}

export function printError(err: unknown, json: boolean): void {
  if (json) {
    const data = err instanceof HerdError ? err.toData() : { code: 'HERD_ERR_INTERNAL', message: String((err as Error)?.message ?? err) };
    process.stdout.write(`${JSON.stringify({ error: data })}\n`);
    return;
  }
  if (err instanceof HerdError) {
    process.stderr.write(`herd: ${err.message} [${err.code}]\n`);
    for (const line of err.details) process.stderr.write(`  ${line}\n`);
    return;
  }
  process.stderr.write(`herd: ${(err as Error)?.stack ?? String(err)}\n`);
}

export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`herd: warning: ${w}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
