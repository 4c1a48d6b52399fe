import { AGENT_ENV, AGENT_INSPECT_ARGS } from '../protocol/agent';

/**
 * Child processes of a worker must start as the app asked, as under plain
 * node. child_process.fork() and cluster.fork() pass `process.execArgv` on,
 * read at call time: with herd's `--require <agent>` a child would load the
 * agent and act as a herd worker, and cluster.fork() turns
 * `--inspect-port=0` into `--inspect-port=1`, which Node refuses (exit 9).
 * The inspector flags (AGENT_INSPECT_ARGS) come right after the --require.
 * So the agent takes its own entries out of execArgv (the user's nodeArgs,
 * e.g. `--import tsx`, stay) and deletes the variables meant for it alone.
 * Node already deletes NODE_UNIQUE_ID in a cluster worker for the same
 * reason; it is deleted here too for any path that set it later.
 */
export function hideAgentFromChildren(execArgv: string[], env: NodeJS.ProcessEnv, agentPath: string): void {
  const at = execArgv.findIndex((arg, i) => arg === '--require' && execArgv[i + 1] === agentPath);
  if (at !== -1) {
    let count = 2;
    while (AGENT_INSPECT_ARGS.includes(execArgv[at + count] ?? '')) count++;
    execArgv.splice(at, count);
  }
  for (const name of AGENT_ENV) delete env[name];
  delete env.NODE_UNIQUE_ID;
}
