import { HerdClient } from '../client/client';
import { HerdError } from '../errors';
import { renderMonit, type MonitState } from './monitView';

const POLL_MS = 1000;
const ESC = '\u001b[';

/**
 * `herd monit`: polls the daemon once a second and redraws. Raw ANSI on the
 * alternate screen; whatever way it ends (q, Ctrl-C, SIGTERM, an error) the
 * terminal gets its screen, cursor and line mode back.
 */
export async function runMonit(): Promise<number> {
  const out = process.stdout;
  const input = process.stdin;
  if (!out.isTTY || !input.isTTY) throw new HerdError('HERD_ERR_NOT_A_TERMINAL', { command: 'herd monit' });
  let client: HerdClient | null = await HerdClient.connect();
  const state: MonitState = { apps: [], selected: 0, width: out.columns || 80, height: out.rows || 24, error: null, now: Date.now() };

  const draw = () => {
    state.width = out.columns || 80;
    state.height = out.rows || 24;
    out.write(`${ESC}H${ESC}2J${renderMonit(state)}`);
  };
  const poll = async () => {
    try {
      client ??= await HerdClient.connect();
      state.apps = await client.request({ type: 'monit' });
      state.error = null;
    } catch (err) {
      client?.close();
      client = null;
      state.error = `cannot reach the daemon: ${(err as Error).message}`;
    }
    state.now = Date.now();
    state.selected = Math.min(state.selected, Math.max(0, state.apps.length - 1));
    draw();
  };

  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    let done = false;
    const restore = () => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      out.write(`${ESC}0m${ESC}?25h${ESC}?1049l`);
      if (input.isTTY) input.setRawMode(false);
      input.pause();
      input.off('data', onKey);
      out.off('resize', draw);
      process.off('SIGTERM', quit);
      process.off('SIGINT', quit);
      process.off('SIGHUP', quit);
      process.off('exit', restore);
      client?.close();
    };
    const quit = () => {
      restore();
      resolve(0);
    };
    const onKey = (key: string) => {
      if (key === 'q' || key === '\u0003' || key === '\u001b') return quit();
      if (key === 'j' || key === `${ESC}B`) state.selected = Math.min(state.selected + 1, Math.max(0, state.apps.length - 1));
      else if (key === 'k' || key === `${ESC}A`) state.selected = Math.max(0, state.selected - 1);
      else return;
      draw();
    };
    const loop = () => {
      void poll().then(() => {
        if (!done) timer = setTimeout(loop, POLL_MS);
      }, (err: unknown) => {
        restore();
        process.stderr.write(`herd: monit: ${(err as Error).message}\n`);
        resolve(1);
      });
    };
    out.write(`${ESC}?1049h${ESC}?25l`);
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.on('data', onKey);
    input.resume();
    out.on('resize', draw);
    process.on('SIGTERM', quit);
    process.on('SIGINT', quit);
    process.on('SIGHUP', quit);
    process.on('exit', restore);
    loop();
  });
}
