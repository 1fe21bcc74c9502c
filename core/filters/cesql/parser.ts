/**
 * Recursive-descent parser for CESQL 1.0. Precedence, highest first (spec §3.6):
 *   function calls, literals, attributes, EXISTS, ( … )
 *   NOT, unary -                    (so `NOT a = b` is `(NOT a) = b`, as the grammar says)
 *   LIKE, NOT LIKE, IN, NOT IN      (postfix)
 *   * / %
 *   + -
 *   = != <> < <= > >=
 *   AND OR XOR                      (one level)
 * Operators of equal precedence group left to right, as §3.6 says ("evaluated left to right
 * when the precedence is equal"), so `a AND b OR c` is `(a AND b) OR c`. The spec's ANTLR
 * grammar marks that level `<assoc=right>`; the text is normative, and docs/filters.md tells
 * users to parenthesize mixed AND/OR.
 */
import {
  type BinaryOperator,
  INT32_MAX,
  INT32_MIN,
  LogicalOperator,
  UnaryOperator,
  type CesqlNode,
} from './ast.js';
import { CesqlParseError } from './errors.js';
import { tokenize, TokenType, type Token } from './lexer.js';

/**
 * Deepest nesting accepted, counting parentheses, unary operators, function calls and tree
 * depth. Real filters stay far below; the bound keeps a hostile expression from overflowing
 * the stack of the parser or of the evaluator (which recurses over the tree).
 */
export const MAX_NESTING = 64;

const COMPARISON: ReadonlySet<string> = new Set(['=', '!=', '<>', '<', '<=', '>', '>=']);
const ADDITIVE: ReadonlySet<string> = new Set(['+', '-']);
const MULTIPLICATIVE: ReadonlySet<string> = new Set(['*', '/', '%']);
const LOGICAL: ReadonlySet<string> = new Set(['AND', 'OR', 'XOR']);
const IDENTIFIER = /^[A-Za-z0-9]+$/;
const FUNCTION_NAME = /^[A-Za-z][A-Za-z_]*$/;

/** Parses a CESQL 1.0 expression into a tree; throws CesqlParseError. */
export function parseCesql(expression: string): CesqlNode {
  return new Parser(expression).parseRoot();
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;
  private nesting = 0;
  private readonly depths = new WeakMap<CesqlNode, number>();

  constructor(private readonly source: string) {
    this.tokens = tokenize(source);
  }

  parseRoot(): CesqlNode {
    if (this.peek().type === TokenType.End) throw this.error('empty expression', 0);
    const node = this.parseExpression();
    const rest = this.peek();
    if (rest.type !== TokenType.End) throw this.unexpected(rest);
    return node;
  }

  private parseExpression(): CesqlNode {
    let left = this.parseComparison();
    // A run of one logical operator becomes one n-ary node: flat for the evaluator, and a
    // long `a OR b OR …` list stays shallow.
    let run: CesqlNode[] | undefined;
    let runOperator: LogicalOperator = LogicalOperator.And;
    let runPosition = 0;
    while (this.isKeyword(LOGICAL)) {
      const op = this.next();
      const right = this.parseComparison();
      if (run && op.text === runOperator) {
        run.push(right);
        continue;
      }
      if (run) left = this.logical(runOperator, run, runPosition);
      run = [left, right];
      runOperator = op.text as LogicalOperator;
      runPosition = op.position;
    }
    return run ? this.logical(runOperator, run, runPosition) : left;
  }

  private parseComparison(): CesqlNode {
    let left = this.parseAdditive();
    while (this.isSymbol(COMPARISON)) {
      const op = this.next();
      left = this.binary(op, left, this.parseAdditive());
    }
    return left;
  }

  private parseAdditive(): CesqlNode {
    let left = this.parseMultiplicative();
    while (this.isSymbol(ADDITIVE)) {
      const op = this.next();
      left = this.binary(op, left, this.parseMultiplicative());
    }
    return left;
  }

  private parseMultiplicative(): CesqlNode {
    let left = this.parsePostfix();
    while (this.isSymbol(MULTIPLICATIVE)) {
      const op = this.next();
      left = this.binary(op, left, this.parsePostfix());
    }
    return left;
  }

  private parsePostfix(): CesqlNode {
    let operand = this.parseUnary();
    for (;;) {
      const t = this.peek();
      if (t.type !== TokenType.Keyword) return operand;
      let negated = false;
      let op = t;
      if (t.text === 'NOT') {
        const after = this.peek(1);
        if (after.type !== TokenType.Keyword || (after.text !== 'LIKE' && after.text !== 'IN')) {
          throw this.error('expected LIKE or IN after NOT', after.position);
        }
        this.next();
        negated = true;
        op = after;
      } else if (t.text !== 'LIKE' && t.text !== 'IN') {
        return operand;
      }
      this.next();
      const position = t.position;
      if (op.text === 'LIKE') {
        const pattern = this.next();
        if (pattern.type !== TokenType.String) {
          throw this.error('LIKE needs a string literal as its pattern', pattern.position);
        }
        operand = this.node({ kind: 'like', operand, pattern: pattern.text, negated, position }, [
          operand,
        ]);
      } else {
        const set = this.parseList('IN needs a list of values in parentheses', false);
        operand = this.node({ kind: 'in', operand, set, negated, position }, [operand, ...set]);
      }
    }
  }

  private parseUnary(): CesqlNode {
    const t = this.peek();
    if (t.type === TokenType.Keyword && t.text === 'NOT') {
      this.next();
      const operand = this.nested(() => this.parseUnary());
      return this.node(
        { kind: 'unary', operator: UnaryOperator.Not, operand, position: t.position },
        [operand],
      );
    }
    if (t.type === TokenType.Symbol && t.text === '-') {
      this.next();
      // `-2147483648` is a literal (the grammar's INTEGER_LITERAL takes a sign): negating
      // 2147483648 would not fit in 32 bits.
      if (this.peek().type === TokenType.Integer) return this.integer(this.next(), -1, t.position);
      const operand = this.nested(() => this.parseUnary());
      return this.node(
        { kind: 'unary', operator: UnaryOperator.Negate, operand, position: t.position },
        [operand],
      );
    }
    return this.parsePrimary();
  }

  private parsePrimary(): CesqlNode {
    const t = this.next();
    switch (t.type) {
      case TokenType.Integer:
        return this.integer(t, 1, t.position);
      case TokenType.String:
        return this.node({ kind: 'literal', value: t.text, position: t.position }, []);
      case TokenType.Name:
        if (this.isSymbolText('(')) return this.parseCall(t);
        return this.node(
          { kind: 'attribute', name: this.attributeName(t), position: t.position },
          [],
        );
      case TokenType.Keyword:
        if (t.text === 'TRUE' || t.text === 'FALSE') {
          return this.node({ kind: 'literal', value: t.text === 'TRUE', position: t.position }, []);
        }
        if (t.text === 'EXISTS') {
          const name = this.next();
          if (name.type !== TokenType.Name) {
            throw this.error('EXISTS needs an attribute name', name.position);
          }
          return this.node(
            { kind: 'exists', name: this.attributeName(name), position: t.position },
            [],
          );
        }
        throw this.unexpected(t);
      case TokenType.Symbol:
        if (t.text === '(') {
          const inner = this.nested(() => this.parseExpression());
          this.expectSymbol(')');
          return inner;
        }
        if (t.text === '+' && this.peek().type === TokenType.Integer) {
          return this.integer(this.next(), 1, t.position);
        }
        throw this.unexpected(t);
      default:
        throw this.unexpected(t);
    }
  }

  private parseCall(nameToken: Token): CesqlNode {
    if (!FUNCTION_NAME.test(nameToken.text)) {
      throw this.error(
        `"${nameToken.text}" is not a function name (letters and underscores only)`,
        nameToken.position,
      );
    }
    const args = this.parseList('', true);
    return this.node(
      { kind: 'call', name: nameToken.text.toUpperCase(), args, position: nameToken.position },
      args,
    );
  }

  /** `( expr, … )`: function arguments (may be empty) or an IN set (may not). */
  private parseList(missingParen: string, allowEmpty: boolean): CesqlNode[] {
    const open = this.peek();
    if (!(open.type === TokenType.Symbol && open.text === '(')) {
      throw this.error(missingParen || `expected '(' but found ${describe(open)}`, open.position);
    }
    this.next();
    const items: CesqlNode[] = [];
    if (this.isSymbolText(')')) {
      if (!allowEmpty) throw this.error('IN needs at least one value', this.peek().position);
      this.next();
      return items;
    }
    this.nested(() => {
      items.push(this.parseExpression());
      while (this.isSymbolText(',')) {
        this.next();
        items.push(this.parseExpression());
      }
    });
    this.expectSymbol(')');
    return items;
  }

  /** Attribute names are lower-case (CloudEvents naming convention): `SOURCE` is `source`. */
  private attributeName(t: Token): string {
    if (!IDENTIFIER.test(t.text)) {
      throw this.error(
        `"${t.text}" is not an attribute name (letters and digits only)`,
        t.position,
      );
    }
    return t.text.toLowerCase();
  }

  private integer(t: Token, sign: 1 | -1, position: number): CesqlNode {
    const value = sign * Number(t.text);
    if (value > INT32_MAX || value < INT32_MIN) {
      throw this.error(
        `integer literal ${sign < 0 ? '-' : ''}${t.text} does not fit in 32 bits`,
        position,
      );
    }
    return this.node({ kind: 'literal', value: value | 0, position }, []);
  }

  private logical(operator: LogicalOperator, operands: CesqlNode[], position: number): CesqlNode {
    return this.node({ kind: 'logical', operator, operands, position }, operands);
  }

  private binary(op: Token, left: CesqlNode, right: CesqlNode): CesqlNode {
    const operator = op.text as BinaryOperator;
    return this.node({ kind: 'binary', operator, left, right, position: op.position }, [
      left,
      right,
    ]);
  }

  /** Records the node's depth; refuses one deeper than MAX_NESTING. */
  private node<N extends CesqlNode>(node: N, children: readonly CesqlNode[]): N {
    let depth = 0;
    for (const child of children) depth = Math.max(depth, this.depths.get(child) ?? 1);
    if (depth + 1 > MAX_NESTING) {
      throw this.error(`expression nested deeper than ${MAX_NESTING} levels`, node.position);
    }
    this.depths.set(node, depth + 1);
    return node;
  }

  private nested<T>(parse: () => T): T {
    if (++this.nesting > MAX_NESTING) {
      throw this.error(`expression nested deeper than ${MAX_NESTING} levels`, this.peek().position);
    }
    const result = parse();
    this.nesting--;
    return result;
  }

  private peek(ahead = 0): Token {
    const at = Math.min(this.index + ahead, this.tokens.length - 1);
    return this.tokens[at] as Token;
  }

  private next(): Token {
    const t = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return t;
  }

  private isKeyword(set: ReadonlySet<string>): boolean {
    const t = this.peek();
    return t.type === TokenType.Keyword && set.has(t.text);
  }

  private isSymbol(set: ReadonlySet<string>): boolean {
    const t = this.peek();
    return t.type === TokenType.Symbol && set.has(t.text);
  }

  private isSymbolText(text: string): boolean {
    const t = this.peek();
    return t.type === TokenType.Symbol && t.text === text;
  }

  private expectSymbol(text: string): void {
    const t = this.next();
    if (t.type !== TokenType.Symbol || t.text !== text) {
      throw this.error(`expected '${text}' but found ${describe(t)}`, t.position);
    }
  }

  private unexpected(t: Token): CesqlParseError {
    return this.error(`unexpected ${describe(t)}`, t.position);
  }

  private error(reason: string, position: number): CesqlParseError {
    return new CesqlParseError(reason, this.source, position);
  }
}

function describe(t: Token): string {
  switch (t.type) {
    case TokenType.End:
      return 'end of expression';
    case TokenType.String:
      return 'string literal';
    default:
      return `'${t.text}'`;
  }
}
