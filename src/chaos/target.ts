/**
 * Where the probe sends its requests when the user gave no --url: the first
 * TCP port the app listens on (`herd describe`'s `listening`). An app bound
 * to every address (`[::]:3000`, `0.0.0.0:3000`, Node's default) is asked on
 * 127.0.0.1, which both answer (Node's `::` socket is dual-stack); one bound
 * to one address is asked there.
 */
export function probeUrl(listening: readonly string[]): string | null {
  for (const address of listening) {
    const m = /^(\[[0-9a-fA-F:.%\w]*\]|[^/\\:]*):(\d{1,5})$/.exec(address);
    if (!m) continue;
    const port = Number(m[2]);
    if (!(port > 0 && port < 65536)) continue;
    const host = m[1] as string;
    const any = host === '' || host === '*' || host === '0.0.0.0' || host === '[::]' || host === '[::0]';
    return `http://${any ? '127.0.0.1' : host}:${port}/`;
  }
  return null;
}
