import { constants } from 'node:os';

const SIGNALS = constants.signals as Readonly<Record<string, number>>;

/**
 * A signal as a user types it (`SIGUSR2`, `usr2`, `12`) in its canonical
 * name, or null when this platform has no such signal. Numbers are accepted
 * because `kill -12` users type them; they map to the platform's name.
 */
export function parseSignal(input: string): NodeJS.Signals | null {
  const text = input.trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    return (name as NodeJS.Signals | undefined) ?? null;
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return Object.prototype.hasOwnProperty.call(SIGNALS, name) ? (name as NodeJS.Signals) : null;
}

/** Every signal name of this platform, for messages and suggestions. */
export function signalNames(): string[] {
  return Object.keys(SIGNALS);
}
