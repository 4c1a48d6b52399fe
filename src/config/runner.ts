/**
 * What runs an app's workers, decided the way PM2 decides it
 * (lib/Common.js prepareAppConf, resolveInterpreter, verifyConfs):
 *
 * - a script file with no interpreter, or a node binary as interpreter: the
 *   'node' runner (herd's agent preloaded; cluster mode possible);
 * - `.py`, `.sh`, `.rb`, `.php`, `.pl` without an interpreter: python (or
 *   python3), bash, ruby, php, perl, as PM2's interpreter table has it;
 * - any other interpreter (python3, bash, /usr/bin/ruby, ts-node): the 'exec'
 *   runner with that interpreter, found on PATH;
 * - `interpreter: 'none'` or a binary script: the script runs itself;
 * - a script that is not a file but a command: `npm` (also `yarn`, `pnpm`,
 *   `npx`) found next to the node binary or on PATH, and runs itself; a
 *   command with spaces is split (`npm run start`), or, when it uses shell
 *   syntax (`npm run build && npm start`), run with `bash -c` as PM2 runs
 *   every script with spaces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitArgs } from './readers';

export interface RunnerRequest {
  /** The script as written in the file (or on the command line). */
  script: string;
  cwd: string;
  /** The interpreter as written; null when not set. */
  interpreter: string | null;
  /** The CLI's node binary: the default interpreter, and where npm is looked for first. */
  nodeBinary: string;
  /** The PATH the app will have. */
  searchPath: string;
}

export interface Runner {
  runner: 'node' | 'exec';
  /** The node binary ('node'), the interpreter ('exec'), or '' when the script runs itself. */
  interpreter: string;
  /** Absolute path of what the interpreter runs, or of the command. */
  script: string;
  /** Arguments that came with the script (`npm run start` -> ['run', 'start']); the app's args follow them. */
  scriptArgs: string[];
  /** What runs, for messages: 'npm', 'python3'. */
  label: string;
  /** `<shell> -c <script>`: the script used shell syntax. */
  viaShell: boolean;
}

export interface RunnerProblem {
  on: 'script' | 'interpreter';
  message: string;
}

const NODE_BINARY = /^node(js)?(-?v?\d[\w.-]*)?(\.exe)?$/i;
const PACKAGE_MANAGERS = new Set(['npm', 'npx', 'yarn', 'pnpm']);
/** PM2's lib/API/interpreter.json, for the interpreters herd does not bundle. */
const BY_EXTENSION: Readonly<Record<string, readonly string[]>> = {
  '.py': ['python', 'python3'],
  '.sh': ['bash'],
  '.rb': ['ruby'],
  '.php': ['php'],
  '.pl': ['perl'],
};
const JS_EXTENSIONS = new Set(['.js', '.cjs', '.mjs', '.ts', '.cts', '.mts', '.tsx', '.jsx']);
/** What only a shell understands; PM2 hands such a script to `bash -c`. */
const SHELL_SYNTAX = /[|&;<>()$`*?[\]{}~!#\\\n]|^\s*\w+=/;

/** The runner, or every problem found (a missing script and a missing interpreter show together). */
export function resolveRunner(req: RunnerRequest): Runner | RunnerProblem[] {
  const target = resolveScript(req);
  const interp = req.interpreter?.trim() ?? null;
  if ('message' in target) {
    const other = interp === null || interp === 'node' || interp === 'none' ? null : findInterpreter(interp, req);
    return other !== null && 'message' in other ? [target, other] : [target];
  }
  const run = pickRunner(req, target, interp);
  return 'message' in run ? [run] : run;
}

function pickRunner(req: RunnerRequest, target: Target, interp: string | null): Runner | RunnerProblem {
  if (target.shell) return { ...exec('', target.path, target.args, path.basename(target.path)), viaShell: true };
  if (interp === null || interp === 'node') {
    if (target.command !== null && PACKAGE_MANAGERS.has(target.command)) return exec('', target.path, target.args, target.command);
    if (interp === 'node') return node(req.nodeBinary, target);
    return byContent(req, target);
  }
  if (interp === 'none') return runsItself(target);
  const found = findInterpreter(interp, req);
  if ('message' in found) return found;
  if (NODE_BINARY.test(path.basename(interp))) return node(found.path, target);
  return exec(found.path, target.path, target.args, path.basename(interp));
}

interface Target {
  path: string;
  args: string[];
  /** The command's name when the script was found as a command rather than a file. */
  command: string | null;
  /** Run with `<shell> -c <script>`: path is the shell. */
  shell: boolean;
}

function resolveScript(req: RunnerRequest): Target | RunnerProblem {
  const { script, cwd } = req;
  const file = path.resolve(cwd, script);
  if (isFile(file)) return { path: file, args: [], command: null, shell: false };
  if (isDirectory(file)) return { on: 'script', message: `${file} is a directory, not a script (name the entry file, e.g. ${path.join(script, 'index.js')})` };
  const hasSpace = /\s/.test(script.trim());
  if (hasSpace && SHELL_SYNTAX.test(script)) {
    const shell = findOnPath('bash', req.searchPath) ?? findOnPath('sh', req.searchPath) ?? (isExecutable('/bin/sh') ? '/bin/sh' : null);
    if (shell === null) return { on: 'script', message: `runs through a shell (it uses shell syntax), but neither bash nor sh is on PATH` };
    return { path: shell, args: ['-c', script], command: null, shell: true };
  }
  const words = hasSpace ? splitArgs(script.trim()) : [script];
  if (words === null) return { on: 'script', message: `a quote is not closed: ${JSON.stringify(script)}` };
  const [command = '', ...args] = words;
  if (/[/\\]/.test(command)) {
    const commandPath = path.resolve(cwd, command);
    if (hasSpace && isFile(commandPath)) return { path: commandPath, args, command: null, shell: false };
    return { on: 'script', message: `file not found: ${hasSpace ? commandPath : file}` };
  }
  // A bare name that is not a file is a command to find on PATH (PM2 uses `which`),
  // unless it looks like a missing script (app.js).
  if (!hasSpace && path.extname(command) !== '') return { on: 'script', message: `file not found: ${file}` };
  if (PACKAGE_MANAGERS.has(command)) {
    // npm belongs to the node that runs the CLI; a reload of a non-Node app may pass another binary, or none.
    const besideNode = path.isAbsolute(req.nodeBinary) ? path.join(path.dirname(req.nodeBinary), command) : null;
    const found = (besideNode && executable(besideNode)) ?? findOnPath(command, req.searchPath);
    if (found === null) return { on: 'script', message: `${command} not found ${besideNode ? `next to ${req.nodeBinary} or ` : ''}on PATH` };
    return { path: found, args, command, shell: false };
  }
  const found = findOnPath(command, req.searchPath);
  if (found === null) return { on: 'script', message: `file not found: ${file}, and no command "${command}" on PATH` };
  return { path: found, args, command, shell: false };
}

/** No interpreter set: by extension as PM2 does, a binary runs itself, anything else is Node.js. */
function byContent(req: RunnerRequest, target: Target): Runner | RunnerProblem {
  const ext = path.extname(target.path).toLowerCase();
  const candidates = BY_EXTENSION[ext];
  if (candidates !== undefined) {
    for (const name of candidates) {
      const found = findOnPath(name, req.searchPath);
      if (found !== null) return exec(found, target.path, target.args, name);
    }
    return { on: 'script', message: `${ext} scripts run with ${candidates.join(' or ')}, which is not on PATH (set interpreter)` };
  }
  if (!JS_EXTENSIONS.has(ext)) {
    const head = readHead(target.path);
    if (isBinary(head)) return runsItself(target);
    // A command found on PATH that is not a Node.js script (a shell wrapper, a Python tool) runs itself.
    if (target.command !== null && !/^#!.*\bnode\b/.test(head.toString('latin1').split('\n')[0] ?? '')) return runsItself(target);
  }
  return node(req.nodeBinary, target);
}

function runsItself(target: Target): Runner | RunnerProblem {
  if (!isExecutable(target.path)) return { on: 'script', message: `${target.path} is not executable (chmod +x it, or set an interpreter)` };
  return exec('', target.path, target.args, target.command ?? path.basename(target.path));
}

function node(binary: string, target: Target): Runner {
  return { runner: 'node', interpreter: binary, script: target.path, scriptArgs: target.args, label: 'node', viaShell: false };
}

function exec(interpreter: string, script: string, scriptArgs: string[], label: string): Runner {
  return { runner: 'exec', interpreter, script, scriptArgs, label, viaShell: false };
}

function findInterpreter(value: string, req: RunnerRequest): { path: string } | RunnerProblem {
  const isNode = NODE_BINARY.test(path.basename(value));
  if (/[/\\]/.test(value)) {
    const p = path.resolve(req.cwd, value);
    if (isExecutable(p)) return { path: p };
    return { on: 'interpreter', message: isNode ? `node binary not found: ${p}` : `not found: ${p}` };
  }
  const found = findOnPath(value, req.searchPath) ?? executable(path.join(req.cwd, 'node_modules', '.bin', value));
  if (found !== null) return { path: found };
  if (/^node@/.test(value)) {
    return { on: 'interpreter', message: `PM2's ${value} (a Node.js version installed with nvm) is not supported; give the path of that node binary, e.g. ~/.nvm/versions/node/v20.11.0/bin/node` };
  }
  return { on: 'interpreter', message: isNode ? `node binary not found: ${value} (not on PATH)` : `${value} not found on PATH` };
}

export function findOnPath(command: string, searchPath: string): string | null {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const found = executable(path.join(dir, command));
    if (found !== null) return found;
  }
  return null;
}

function executable(file: string): string | null {
  return isExecutable(file) ? file : null;
}

export function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return isFile(file);
  } catch {
    return false;
  }
}

function readHead(file: string): Buffer {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(512);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } catch {
    return Buffer.alloc(0);
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** A NUL byte in the first bytes: what PM2's isbinaryfile check comes down to for executables. */
function isBinary(head: Buffer): boolean {
  return head.includes(0);
}
