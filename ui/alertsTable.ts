import type { AlertStateView } from '../src/protocol/control';
import { duration, KeyedTable } from './dom';

/** Alerts firing now; `since` here is how long ago it fired (ms). */
export function alertsTable(): KeyedTable<AlertStateView> {
  return new KeyedTable<AlertStateView>([
    { title: 'App', cell: (a) => a.app },
    { title: 'Rule', cell: (a) => ({ text: a.rule, cls: 'bad-text' }) },
    { title: 'Value', cls: 'num', cell: (a) => (a.value === null ? '–' : String(Math.round(a.value * 1000) / 1000)) },
    { title: 'Firing for', cls: 'num', cell: (a) => duration(a.since) },
  ], (a) => `${a.app} ${a.rule}`, undefined, 'alerts');
}
