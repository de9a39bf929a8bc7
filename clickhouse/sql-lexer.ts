/**
 * A small lexer for the part of ClickHouse's SQL grammar that decides where one token ends and the
 * next begins: quoted strings (backslash escapes and doubled quotes), quoted identifiers, `--` and
 * block comments, numbers, words and operators. It does not parse; it exists so that the SQL
 * builder can check its templates, the client can name a statement without reading its values,
 * migration files can be split on `;`, and tests can compare token sequences.
 */

export type TokenKind = 'word' | 'number' | 'string' | 'quoted_identifier' | 'operator' | 'placeholder' | 'comment' | 'whitespace';

export interface Token {
  kind: TokenKind;
  text: string;
  start: number;
}

export class SqlLexError extends Error {
  override name = 'SqlLexError';
  readonly position: number;

  constructor(message: string, position: number) {
    super(message);
    this.position = position;
  }
}

const WORD_START = /[A-Za-z_]/;
const WORD_CHAR = /[A-Za-z0-9_$]/;
const DIGIT = /[0-9]/;
const SPACE = /[ \t\n\r\f\v]/;
const TWO_CHAR_OPERATORS = new Set(['<=', '>=', '!=', '<>', '==', '||', '->', '::']);

export interface TokenizeOptions {
  /** A character that stands for a placeholder when it appears outside strings and comments. */
  placeholder?: string;
  /** Keep whitespace and comment tokens (needed to cut text back into statements). */
  trivia?: boolean;
}

/** Scans a quoted run starting at `start` (the opening quote); returns the index after the closing quote. */
function scanQuoted(text: string, start: number): number {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (text[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i += 1;
    }
  }
  const what = quote === "'" ? 'string literal' : 'quoted identifier';
  throw new SqlLexError(`unterminated ${what} starting at offset ${start}`, start);
}

function scanNumber(text: string, start: number): number {
  let i = start;
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X') && /[0-9A-Fa-f]/.test(text[i + 2] ?? '')) {
    i += 2;
    while (/[0-9A-Fa-f]/.test(text[i] ?? '')) i += 1;
    return i;
  }
  while (DIGIT.test(text[i] ?? '')) i += 1;
  if (text[i] === '.') {
    i += 1;
    while (DIGIT.test(text[i] ?? '')) i += 1;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    const sign = text[i + 1] === '+' || text[i + 1] === '-' ? 1 : 0;
    if (DIGIT.test(text[i + 1 + sign] ?? '')) {
      i += 1 + sign;
      while (DIGIT.test(text[i] ?? '')) i += 1;
    }
  }
  return i;
}

export function tokenize(text: string, options: TokenizeOptions = {}): Token[] {
  const tokens: Token[] = [];
  const push = (kind: TokenKind, start: number, end: number) => {
    if (options.trivia || (kind !== 'whitespace' && kind !== 'comment')) tokens.push({ kind, text: text.slice(start, end), start });
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (SPACE.test(c)) {
      let j = i + 1;
      while (j < text.length && SPACE.test(text[j]!)) j += 1;
      push('whitespace', i, j);
      i = j;
    } else if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      const j = end === -1 ? text.length : end;
      push('comment', i, j);
      i = j;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw new SqlLexError(`unterminated comment starting at offset ${i}`, i);
      push('comment', i, end + 2);
      i = end + 2;
    } else if (c === "'") {
      const j = scanQuoted(text, i);
      push('string', i, j);
      i = j;
    } else if (c === '`' || c === '"') {
      const j = scanQuoted(text, i);
      push('quoted_identifier', i, j);
      i = j;
    } else if (DIGIT.test(c) || (c === '.' && DIGIT.test(next ?? ''))) {
      const j = scanNumber(text, i);
      push('number', i, j);
      i = j;
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < text.length && WORD_CHAR.test(text[j]!)) j += 1;
      push('word', i, j);
      i = j;
    } else if (options.placeholder !== undefined && c === options.placeholder) {
      push('placeholder', i, i + 1);
      i += 1;
    } else {
      const j = next !== undefined && TWO_CHAR_OPERATORS.has(c + next) ? i + 2 : i + 1;
      push('operator', i, j);
      i = j;
    }
  }
  return tokens;
}

/**
 * Decodes a string-literal token the way ClickHouse's parser does (backslash escapes, doubled
 * quotes). Tests use it to check that a value survives quoting; the SQL builder never needs it.
 */
export function decodeStringLiteral(token: string): string {
  if (token.length < 2 || !token.startsWith("'") || !token.endsWith("'")) throw new SqlLexError('not a string literal', 0);
  const body = token.slice(1, -1);
  const simple: Record<string, string> = { '0': '\0', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', a: '\x07', v: '\v', e: '\x1b' };
  let out = '';
  for (let i = 0; i < body.length; i += 1) {
    const c = body[i]!;
    if (c === "'" && body[i + 1] === "'") {
      out += "'";
      i += 1;
    } else if (c === '\\') {
      const e = body[i + 1] ?? '';
      i += 1;
      if (e === 'x' && /^[0-9A-Fa-f]{2}$/.test(body.slice(i + 1, i + 3))) {
        out += String.fromCharCode(Number.parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        out += simple[e] ?? e;
      }
    } else {
      out += c;
    }
  }
  return out;
}
