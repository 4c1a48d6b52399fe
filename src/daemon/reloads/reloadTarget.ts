import type { AppSpec } from '../../config/types';

/**
 * An app as the daemon's own reload triggers (cron_restart, watch) see it.
 * App implements it; unit tests drive the triggers with a fake.
 */
export interface ReloadTarget {
  readonly name: string;
  /** The spec the app runs now. */
  readonly spec: AppSpec;
  readonly stopped: boolean;
  /** The operation running now (a reload, restart, stop...), or null. */
  readonly busy: string | null;
  /** A rolling reload: what `herd reload <name>` does. */
  reload(spec: AppSpec, progress: (message: string) => void): Promise<void>;
  /** An event in `herd describe`. */
  note(message: string): void;
  /** The app's live processes (current workers, replacements, draining ones). */
  processes(): readonly { readonly pid: number | null }[];
  /** Called on every change of status; returns an unsubscribe function. */
  onChange(fn: () => void): () => void;
}
