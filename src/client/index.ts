/** Programmatic API: `import { HerdClient } from 'herd-runtime/client'`. */
export { HerdClient, type ConnectOptions } from './client';
export type { AppDetail, AppInfo, AppStatus, WorkerInfo, WorkerStatus, ControlRequest, ResultOf } from '../protocol/control';
export type { AppSpec } from '../config/types';
export { HerdError, type ErrorCode } from '../errors';
