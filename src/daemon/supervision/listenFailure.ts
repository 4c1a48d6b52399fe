import { portLabel, type ListenFailure, type PortHolders } from '../sockets/portConflict';

/**
 * Python's `[Errno 98] Address already in use` names no port; the app's
 * PORT, the usual way to give it one, is then the one to look at.
 */
export function withPortFromEnv(f: ListenFailure, env: Readonly<Record<string, string>>): ListenFailure {
  const port = Number(env.PORT);
  return f.port === null && f.code === 'EADDRINUSE' && Number.isInteger(port) && port > 0 && port < 65536 ? { ...f, port } : f;
}

/** Why a listen failed, with the holder of the port; null when the port is free now. */
export async function explainListenFailure(
  f: ListenFailure,
  portHolders: (wanted: { address: string | null; port: number }) => Promise<PortHolders | null>,
): Promise<string | null> {
  if (f.code === 'EACCES') {
    const low = f.port !== null && f.port > 0 && f.port < 1024 ? ' (a port below 1024 needs root or CAP_NET_BIND_SERVICE)' : '';
    return `cannot listen on ${portLabel(f)}: permission denied${low}`;
  }
  if (f.port === null) return 'the worker could not listen: address already in use (its output does not say which port)';
  const holders = await portHolders({ address: f.address, port: f.port }).catch(() => null);
  return holders === null ? null : `${portLabel(f)} is in use: ${holders.text}`;
}
