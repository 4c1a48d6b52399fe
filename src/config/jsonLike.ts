/**
 * Reads a `.json` ecosystem file the way PM2 accepts it, without running it.
 *
 * PM2 evaluates a JSON config as a JavaScript expression
 * (`vm.runInThisContext('(' + text + ')')` in lib/Common.js parseConfig), so
 * hand-written files carry comments, trailing commas, single-quoted strings
 * and bare keys. This parser accepts exactly the literal part of JavaScript:
 * objects, arrays, strings, numbers, true/false/null/undefined. Anything that
 * would run code (a call, a variable) is a syntax error naming the place, so
 * reading a config never executes it.
 */

export class JsonLikeSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'JsonLikeSyntaxError';
  }
}

const LITERALS: Readonly<Record<string, unknown>> = {
  true: true,
  false: false,
  null: null,
  undefined,
  Infinity,
  NaN,
};

const IDENTIFIER = /[A-Za-z_$][\w$]*/y;
const NUMBER = /[+-]?(?:0[xX][\da-fA-F](?:_?[\da-fA-F])*|0[oO][0-7](?:_?[0-7])*|0[bB][01](?:_?[01])*|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?|Infinity)/y;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v', 0: '\0' };

export function parseJsonLike(text: string): unknown {
  return new Parser(text).document();
}

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  document(): unknown {
    this.skip();
    if (this.pos >= this.text.length) this.fail('the file is empty (expected { "apps": [...] })');
    const value = this.value();
    this.skip();
    if (this.pos < this.text.length) this.fail(`unexpected ${this.describe()} after the end of the value`);
    return value;
  }

  private value(): unknown {
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"' || c === "'" || c === '`') return this.string();
    if (c !== undefined && /[\d.+-]/.test(c)) return this.number();
    const word = this.match(IDENTIFIER);
    if (word !== null) {
      if (Object.prototype.hasOwnProperty.call(LITERALS, word)) return LITERALS[word];
      this.pos -= word.length;
      this.fail(`'${word}' is JavaScript; a .json file is read, not run (use ecosystem.config.js for code)`);
    }
    return this.fail(`expected a value, got ${this.describe()}`);
  }

  private object(): Record<string, unknown> {
    const obj: Record<string, unknown> = {};
    this.pos++; // {
    for (;;) {
      this.skip();
      if (this.peek('}')) break;
      const key = this.key();
      this.skip();
      if (!this.peek(':')) this.fail(`expected ':' after the property name, got ${this.describe()}`);
      this.pos++;
      this.skip();
      this.unclosed('an object');
      // defineProperty: a "__proto__" key is data, as JSON.parse makes it, never the prototype.
      Object.defineProperty(obj, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.skip();
      if (this.peek(',')) {
        this.pos++;
        continue;
      }
      if (this.peek('}')) break;
      this.unclosed('an object');
      this.fail(`expected ',' or '}' after a property, got ${this.describe()}`);
    }
    this.pos++; // }
    return obj;
  }

  private key(): string {
    this.unclosed('an object');
    const c = this.text[this.pos];
    if (c === '"' || c === "'") return this.string();
    const word = this.match(IDENTIFIER);
    if (word !== null) return word;
    const n = this.match(NUMBER);
    if (n !== null && !/^[+-]/.test(n)) return String(Number(n.replace(/_/g, '')));
    if (n !== null) this.pos -= n.length;
    return this.fail(`expected a property name or '}', got ${this.describe()}`);
  }

  private array(): unknown[] {
    const list: unknown[] = [];
    this.pos++; // [
    for (;;) {
      this.skip();
      this.unclosed('an array');
      if (this.peek(']')) break;
      if (this.peek(',')) this.fail('expected a value, got \',\' (an empty array slot)');
      list.push(this.value());
      this.skip();
      if (this.peek(',')) {
        this.pos++;
        continue;
      }
      if (this.peek(']')) break;
      this.unclosed('an array');
      this.fail(`expected ',' or ']' after an element, got ${this.describe()}`);
    }
    this.pos++; // ]
    return list;
  }

  private string(): string {
    const quote = this.text[this.pos];
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) {
        this.pos = start;
        this.fail('unexpected end of file (a string is not closed)');
      }
      if (c === quote) break;
      if (quote === '`' && c === '$' && this.text[this.pos + 1] === '{') {
        this.fail("'${' is JavaScript; a .json file is read, not run (use ecosystem.config.js for code)");
      }
      if ((c === '\n' || c === '\r') && quote !== '`') this.fail('a line break inside a string (write it as \\n)');
      if (c === '\\') out += this.escape();
      else {
        out += c;
        this.pos++;
      }
    }
    this.pos++; // closing quote
    return out;
  }

  private escape(): string {
    this.pos++; // backslash
    const c = this.text[this.pos];
    if (c === undefined) return '';
    this.pos++;
    if (c in SIMPLE_ESCAPES && !(c === '0' && /\d/.test(this.text[this.pos] ?? ''))) return SIMPLE_ESCAPES[c] ?? '';
    if (c === '\r') {
      if (this.text[this.pos] === '\n') this.pos++;
      return ''; // a line continuation
    }
    if (c === '\n' || c === '\u2028' || c === '\u2029') return '';
    if (c === 'x') return String.fromCharCode(this.hex(2));
    if (c === 'u') {
      if (this.text[this.pos] !== '{') return String.fromCharCode(this.hex(4));
      const end = this.text.indexOf('}', this.pos);
      const digits = end === -1 ? '' : this.text.slice(this.pos + 1, end);
      if (!/^[\da-fA-F]{1,6}$/.test(digits) || Number.parseInt(digits, 16) > 0x10ffff) this.fail('a bad \\u{...} escape');
      this.pos = end + 1;
      return String.fromCodePoint(Number.parseInt(digits, 16));
    }
    if (/\d/.test(c)) {
      this.pos--;
      this.fail('octal escapes are not allowed in strings');
    }
    return c; // \' \" \\ \/ and any other character stand for themselves, as in JavaScript
  }

  private hex(count: number): number {
    const digits = this.text.slice(this.pos, this.pos + count);
    if (!new RegExp(`^[\\da-fA-F]{${count}}$`).test(digits)) this.fail(`a bad escape: expected ${count} hex digits`);
    this.pos += count;
    return Number.parseInt(digits, 16);
  }

  private number(): number {
    const raw = this.match(NUMBER);
    if (raw === null) return this.fail(`expected a value, got ${this.describe()}`);
    const sign = raw.startsWith('-') ? -1 : 1;
    const body = raw.replace(/^[+-]/, '').replace(/_/g, '');
    const value = Number(body); // Number() reads 0x, 0o, 0b, '.5', '5.' and Infinity as JavaScript does
    if (Number.isNaN(value)) {
      this.pos -= raw.length;
      this.fail(`expected a value, got ${this.describe()}`);
    }
    return sign * value;
  }

  /** Skips whitespace and comments. */
  private skip(): void {
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) return;
      if (/\s/.test(c)) {
        this.pos++;
      } else if (c === '/' && this.text[this.pos + 1] === '/') {
        const end = this.text.slice(this.pos).search(/[\n\r\u2028\u2029]/);
        this.pos = end === -1 ? this.text.length : this.pos + end;
      } else if (c === '/' && this.text[this.pos + 1] === '*') {
        const end = this.text.indexOf('*/', this.pos + 2);
        if (end === -1) this.fail('unexpected end of file (a /* comment is not closed)');
        this.pos = end + 2;
      } else {
        return;
      }
    }
  }

  private peek(c: string): boolean {
    return this.text[this.pos] === c;
  }

  private match(re: RegExp): string | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m === null) return null;
    this.pos += m[0].length;
    return m[0];
  }

  private unclosed(what: string): void {
    if (this.pos >= this.text.length) this.fail(`unexpected end of file (${what} is not closed)`);
  }

  private describe(): string {
    if (this.pos >= this.text.length) return 'the end of the file';
    const word = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.pos, this.pos + 40));
    if (word) return `'${word[0]}'`;
    return `'${this.text[this.pos]}'`;
  }

  private fail(message: string): never {
    const before = this.text.slice(0, this.pos);
    const lines = before.split(/\r\n|\r|\n/);
    throw new JsonLikeSyntaxError(message, lines.length, (lines[lines.length - 1]?.length ?? 0) + 1);
  }
}
