import * as os from 'node:os';
import type { AlertRule, AlertsSettings } from '../config/types';
import { formatThreshold, isAlertMetric, type AlertMetric } from './alertMetrics';
import type { AlertEvent, AlertsView, AlertStateView } from '../protocol/control';
import { formatDuration } from '../util/units';
import { Ring } from '../util/ring';
import { postJson, type DeliveryOptions, DEFAULT_DELIVERY } from './webhook';

/** What the alert manager needs of an app. */
export interface AlertSource {
  readonly name: string;
  readonly stopped: boolean;
  alertValue(metric: AlertMetric, windowMs: number): number | null;
}

interface RuleState {
  /** When the condition started to hold; null while it does not. */
  since: number | null;
  firing: boolean;
  firedAt: number | null;
  value: number | null;
}

/**
 * Evaluates the configured rules once a second against every app they name.
 * A rule fires when its condition has held for its `for` duration, and
 * resolves as soon as it no longer holds (Prometheus semantics). Both events
 * go to the daemon log, to `herd alerts`, and as a JSON POST to the webhook,
 * delivered in the background with retries and a timeout.
 */
export class AlertManager {
  private settings: AlertsSettings | null = null;
  private readonly states = new Map<string, RuleState>();
  private readonly events = new Ring<AlertEvent>(200);
  private readonly deliveries = new Set<Promise<unknown>>();

  constructor(
    private readonly log: (line: string) => void,
    private readonly delivery: DeliveryOptions = DEFAULT_DELIVERY,
  ) {}

  /** The rules as configured, for `herd update` to pass on; null when none. */
  get current(): AlertsSettings | null {
    return this.settings;
  }

  /** New rules replace the old ones; alerts still firing under a removed rule are dropped without an event. */
  configure(settings: AlertsSettings | null): void {
    this.settings = settings;
    this.states.clear();
  }

  tick(apps: readonly AlertSource[], now = Date.now()): void {
    const settings = this.settings;
    if (!settings) return;
    settings.rules.forEach((rule, index) => {
      if (!isAlertMetric(rule.metric)) return;
      for (const app of apps) {
        if (rule.app !== null && rule.app !== app.name) continue;
        const key = `${index}\u0000${app.name}`;
        const state = this.states.get(key) ?? { since: null, firing: false, firedAt: null, value: null };
        this.states.set(key, state);
        const value = app.stopped ? null : app.alertValue(rule.metric, rule.window);
        state.value = value;
        const holds = value !== null && ((rule.above !== null && value > rule.above) || (rule.below !== null && value < rule.below));
        if (holds) {
          state.since ??= now;
          if (!state.firing && now - state.since >= rule.for) {
            state.firing = true;
            state.firedAt = now;
            this.emit('firing', rule, app.name, value, now, state.since);
          }
        } else {
          state.since = null;
          if (state.firing) {
            state.firing = false;
            this.emit('resolved', rule, app.name, value, now, state.firedAt ?? now);
            state.firedAt = null;
          }
        }
      }
    });
  }

  view(): AlertsView {
    const rules = this.settings?.rules ?? [];
    const active: AlertStateView[] = [];
    for (const [key, state] of this.states) {
      if (!state.firing) continue;
      const [index, app] = key.split('\u0000');
      const rule = rules[Number(index)];
      if (rule && app !== undefined) active.push({ app, rule: describeRule(rule), metric: rule.metric, value: state.value, since: state.firedAt ?? 0 });
    }
    return { webhook: this.settings?.webhook ?? null, rules: rules.map(describeRule), active, events: this.events.toArray() };
  }

  /** Resolves when every webhook delivery under way has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.deliveries.size > 0) await Promise.all([...this.deliveries]);
  }

  private emit(status: 'firing' | 'resolved', rule: AlertRule, app: string, value: number | null, now: number, since: number): void {
    const event: AlertEvent = {
      status,
      app,
      rule: describeRule(rule),
      metric: rule.metric,
      value,
      threshold: rule.above ?? rule.below ?? 0,
      condition: rule.above !== null ? 'above' : 'below',
      since,
      at: now,
      host: os.hostname(),
      delivery: this.settings?.webhook ? 'pending' : 'none',
    };
    this.events.push(event);
    const shown = value === null ? 'no data' : isAlertMetric(rule.metric) ? formatThreshold(rule.metric, value) : String(value);
    this.log(`alert ${status}: ${app}: ${describeRule(rule)} (value ${shown})`);
    const url = this.settings?.webhook;
    if (!url) return;
    const body = { ...event };
    delete (body as Partial<AlertEvent>).delivery;
    const delivery = postJson(url, body, this.delivery).then((result) => {
      event.delivery = result.ok ? 'delivered' : 'failed';
      if (!result.ok) this.log(`alert webhook ${url} failed after ${result.attempts} attempts: ${result.error}`);
    });
    this.deliveries.add(delivery);
    void delivery.finally(() => this.deliveries.delete(delivery));
  }
}

/** `app http.latency.p99 above 100ms for 30s`. */
export function describeRule(rule: AlertRule): string {
  const metric = rule.metric as AlertMetric;
  const parts = [rule.app ?? '*', rule.metric];
  if (rule.above !== null) parts.push(`above ${formatThreshold(metric, rule.above)}`);
  if (rule.below !== null) parts.push(`below ${formatThreshold(metric, rule.below)}`);
  if (rule.for > 0) parts.push(`for ${formatDuration(rule.for)}`);
  return parts.join(' ');
}
