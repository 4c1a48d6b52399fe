/**
 * What apps import: `const { ready, onShutdown } = require('herd')`.
 * Inside a herd worker these reach the agent; outside herd they do nothing,
 * so the same code runs under plain node.
 */
import type { AgentApi, ShutdownHook } from '../agent/agent';

const AGENT_GLOBAL = Symbol.for('herd.agent');

function agent(): AgentApi | undefined {
  return (globalThis as Record<symbol, AgentApi | undefined>)[AGENT_GLOBAL];
}

/** True when running as a herd worker. */
export function isHerd(): boolean {
  return agent() !== undefined;
}

/** Tell herd this worker is ready for traffic (apps with waitReady / wait_ready). */
export function ready(): void {
  agent()?.ready();
}

/**
 * Run `hook` when herd stops this worker, after its HTTP servers have drained
 * and before it exits (close database pools here). May return a promise.
 */
export function onShutdown(hook: ShutdownHook): void {
  agent()?.onShutdown(hook);
}

/** This worker's app name and id under herd, or null outside herd. */
export function worker(): { app: string; id: number } | null {
  const a = agent();
  return a ? { app: a.appName, id: a.workerId } : null;
}

export type { ShutdownHook };
