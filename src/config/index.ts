/** The config module: from a command-line target to validated, frozen AppSpecs. */
export type {
  AppSource,
  AppSpec,
  BackoffSpec,
  CliOverrides,
  ConfigProblem,
  CrashLoopSpec,
  ReloadSpec,
} from './types';
export { DEFAULTS } from './types';
export { isConfigFile, loadTarget, type LoadOptions, type LoadResult } from './load';
