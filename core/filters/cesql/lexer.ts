/**
 * CESQL 1.0 tokens (the spec's CESQLLexer.g4). Keywords are case-insensitive; a word's
 * role (keyword, attribute or function name) is decided here or by the parser from what follows.
 */
import { CesqlParseError } from './errors.js';

export const TokenType = {
  Integer: 'integer',
  String: 'string',
  /** A word that is not a keyword: an attribute or a function name. */
  Name: 'name',
  Keyword: 'keyword',
  /** Operators and punctuation: ( ) , = != <> < <= > >= + - * / % */
  Symbol: 'symbol',
  End: 'end',
} as const;
export type TokenType = (typeof TokenType)[keyof typeof TokenType];

export const KEYWORDS = [
  'AND',
  'OR',
  'XOR',
  'NOT',
  'LIKE',
  'EXISTS',
  'IN',
  'TRUE',
  'FALSE',
] as const;
export type Keyword = (typeof KEYWORDS)[number];
const KEYWORD_SET: ReadonlySet<string> = new Set(KEYWORDS);

export interface Token {
  type: TokenType;
  /** Keywords upper-cased; symbols as written; string literals unescaped; names as written. */
  text: string;
  /** 0-based offset of the token's first character. */
  position: number;
}

const TWO_CHAR_SYMBOLS: ReadonlySet<string> = new Set(['!=', '<>', '<=', '>=']);
const ONE_CHAR_SYMBOLS: ReadonlySet<string> = new Set([
  '(',
  ')',
  ',',
  '=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
]);

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isWordChar = (c: number): boolean => isDigit(c) || isLetter(c) || c === 95; // _
/** The grammar skips exactly these: space, tab, carriage return, newline. */
const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 10;

export function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const n = expression.length;
  let i = 0;
  while (i < n) {
    const c = expression.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === 39 || c === 34) {
      const [text, end] = readString(expression, i);
      tokens.push({ type: TokenType.String, text, position: start });
      i = end;
    } else if (isDigit(c) || isLetter(c)) {
      while (i < n && isWordChar(expression.charCodeAt(i))) i++;
      const word = expression.slice(start, i);
      tokens.push(classifyWord(word, start));
    } else {
      const two = expression.slice(i, i + 2);
      if (TWO_CHAR_SYMBOLS.has(two)) {
        tokens.push({ type: TokenType.Symbol, text: two, position: start });
        i += 2;
      } else if (ONE_CHAR_SYMBOLS.has(expression[i] as string)) {
        tokens.push({ type: TokenType.Symbol, text: expression[i] as string, position: start });
        i++;
      } else {
        const ch = String.fromCodePoint(expression.codePointAt(i) as number);
        throw new CesqlParseError(`unexpected character ${JSON.stringify(ch)}`, expression, i);
      }
    }
  }
  tokens.push({ type: TokenType.End, text: '', position: n });
  return tokens;
}

function classifyWord(word: string, position: number): Token {
  let allDigits = true;
  for (let k = 0; k < word.length && allDigits; k++) allDigits = isDigit(word.charCodeAt(k));
  if (allDigits) return { type: TokenType.Integer, text: word, position };
  const upper = word.toUpperCase();
  if (KEYWORD_SET.has(upper)) return { type: TokenType.Keyword, text: upper, position };
  return { type: TokenType.Name, text: word, position };
}

/**
 * A '…' or "…" literal. As in the grammar, a backslash always pairs with the next character:
 * `\'` inside '…' (and `\"` inside "…") stands for the quote; any other pair is kept as
 * written, so `'a\c'` is `a\c` and LIKE patterns keep their `\%` and `\_`. A doubled quote
 * (`'it''s'`) is the quote, as in SQL; the lexer grammar accepts it too.
 */
function readString(expression: string, start: number): [string, number] {
  const quote = expression.charCodeAt(start);
  let out = '';
  let i = start + 1;
  let chunk = i;
  while (i < expression.length) {
    const c = expression.charCodeAt(i);
    if (c === 92 && i + 1 < expression.length) {
      if (expression.charCodeAt(i + 1) === quote) {
        out += expression.slice(chunk, i) + expression[i + 1];
        chunk = i + 2;
      }
      i += 2;
    } else if (c === quote) {
      if (expression.charCodeAt(i + 1) === quote) {
        out += expression.slice(chunk, i + 1);
        i += 2;
        chunk = i;
      } else {
        return [out + expression.slice(chunk, i), i + 1];
      }
    } else {
      i++;
    }
  }
  throw new CesqlParseError('unterminated string literal', expression, start);
}
