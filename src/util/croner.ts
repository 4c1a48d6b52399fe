/**
 * croner, loaded on first use: only a config or daemon with a `cron`
 * (job) or `cron_restart` ever loads it.
 */
type Croner = typeof import('croner');

let croner: Croner | null = null;

export function loadCroner(): Croner {
  croner ??= require('croner') as Croner;
  return croner;
}
