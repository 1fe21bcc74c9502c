/**
 * A small CEL interpreter for `x-kubernetes-validations`: enough of the language for the rules
 * CRDs commonly carry (field access, has(), logic, comparison, arithmetic, string functions,
 * size(), in, and the all/exists/exists_one/filter/map macros). It is written from the CEL
 * spec, independently of Herald's TypeScript twins of its rules, so the fake checks the rule
 * text exactly as the CRD states it. A rule outside this subset fails to compile, and the CRD
 * registration reports it rather than skipping it silently.
 */
import {
  CelError,
  FUNCTIONS,
  MACROS,
  METHODS,
  arithmetic,
  asBool,
  callFunction,
  callMethod,
  compare,
  runMacro,
  select,
  type Node,
  type Value,
} from './cel-runtime.js';

export { CelError };

const TOKEN =
  /\s*(?:(\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)|(0x[0-9a-fA-F]+|\d+)(u?)|([rR]?)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,()[\]{}]))/y;

interface Token {
  kind: 'number' | 'int' | 'string' | 'ident' | 'op' | 'end';
  text: string;
  value?: Value;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  let position = 0;
  while (position < source.length) {
    if (/^\s*$/.test(source.slice(position))) break;
    TOKEN.lastIndex = position;
    const m = TOKEN.exec(source);
    if (!m)
      throw new CelError(`Syntax error at ${position}: ${source.slice(position, position + 10)}`);
    position = TOKEN.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: 'number', text: m[1], value: Number(m[1]) });
    else if (m[2] !== undefined) tokens.push({ kind: 'int', text: m[2], value: Number(m[2]) });
    else if (m[5] !== undefined) {
      const body = m[5].slice(1, -1);
      tokens.push({ kind: 'string', text: m[5], value: m[4] ? body : unescape(body) });
    } else if (m[6] !== undefined) tokens.push({ kind: 'ident', text: m[6] });
    else tokens.push({ kind: 'op', text: m[7] ?? '' });
  }
  tokens.push({ kind: 'end', text: '' });
  return tokens;
}

function unescape(body: string): string {
  const simple: Record<string, string> = {
    n: '\n',
    t: '\t',
    r: '\r',
    '\\': '\\',
    "'": "'",
    '"': '"',
  };
  return body.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) =>
    e.length > 1 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (simple[e] ?? e),
  );
}

class Parser {
  private index = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    const node = this.expression();
    if (this.peek().kind !== 'end')
      throw new CelError(`Syntax error: unexpected '${this.peek().text}'`);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.index] ?? { kind: 'end', text: '' };
  }

  private accept(text: string): boolean {
    const t = this.peek();
    if ((t.kind === 'op' || t.kind === 'ident') && t.text === text) {
      this.index++;
      return true;
    }
    return false;
  }

  private expect(text: string): void {
    if (!this.accept(text))
      throw new CelError(`Syntax error: expected '${text}', got '${this.peek().text}'`);
  }

  private expression(): Node {
    const condition = this.or();
    if (!this.accept('?')) return condition;
    const then = this.or();
    this.expect(':');
    const otherwise = this.expression();
    return (env) => (asBool(condition(env)) ? then(env) : otherwise(env));
  }

  /** `||` and `&&` are commutative over errors, as in CEL: `true || error` is true. */
  private logical(op: '||' | '&&', next: () => Node): Node {
    let left = next.call(this);
    while (this.accept(op)) {
      const a = left;
      const b = next.call(this);
      const decisive = op === '||';
      left = (env) => {
        let failure: unknown;
        try {
          if (asBool(a(env)) === decisive) return decisive;
        } catch (err) {
          failure = err;
        }
        if (asBool(b(env)) === decisive) return decisive;
        if (failure !== undefined) throw failure;
        return !decisive;
      };
    }
    return left;
  }

  private or(): Node {
    return this.logical('||', this.and);
  }

  private and(): Node {
    return this.logical('&&', this.relation);
  }

  private relation(): Node {
    let left = this.addition();
    for (;;) {
      const op = ['==', '!=', '<', '<=', '>', '>=', 'in'].find((o) => this.accept(o));
      if (!op) return left;
      const a = left;
      const b = this.addition();
      left = (env) => compare(op, a(env), b(env));
    }
  }

  private binary(ops: string[], next: () => Node): Node {
    let left = next.call(this);
    for (;;) {
      const op = ops.find((o) => this.accept(o));
      if (!op) return left;
      const a = left;
      const b = next.call(this);
      left = (env) => arithmetic(op, a(env), b(env));
    }
  }

  private addition(): Node {
    return this.binary(['+', '-'], this.multiplication);
  }

  private multiplication(): Node {
    return this.binary(['*', '/', '%'], this.unary);
  }

  private unary(): Node {
    if (this.accept('!')) {
      const operand = this.unary();
      return (env) => !asBool(operand(env));
    }
    if (this.accept('-')) {
      const operand = this.unary();
      return (env) => arithmetic('-', 0, operand(env));
    }
    return this.member();
  }

  private member(): Node {
    let node = this.primary();
    for (;;) {
      if (this.accept('.')) {
        const name = this.identifier();
        if (this.accept('(')) node = this.methodCall(node, name);
        else {
          const target = node;
          node = (env) => select(target(env), name);
        }
      } else if (this.accept('[')) {
        const target = node;
        const key = this.expression();
        this.expect(']');
        node = (env) => {
          const t = target(env);
          const k = key(env);
          if (Array.isArray(t) && typeof k === 'number') {
            if (k < 0 || k >= t.length) throw new CelError(`index out of bounds: ${k}`);
            return t[k];
          }
          return select(t, String(k));
        };
      } else return node;
    }
  }

  private methodCall(target: Node, name: string): Node {
    if (MACROS.has(name)) {
      const variable = this.identifier();
      this.expect(',');
      const body = this.expression();
      this.expect(')');
      return (env) => runMacro(name, target(env), variable, body, env);
    }
    // Unknown functions fail at compile time, as CRD registration would report them.
    if (!METHODS.has(name)) throw new CelError(`undeclared reference to '${name}'`);
    const args = this.arguments();
    return (env) =>
      callMethod(
        name,
        target(env),
        args.map((a) => a(env)),
      );
  }

  private arguments(): Node[] {
    const args: Node[] = [];
    if (this.accept(')')) return args;
    do args.push(this.expression());
    while (this.accept(','));
    this.expect(')');
    return args;
  }

  private identifier(): string {
    const t = this.peek();
    if (t.kind !== 'ident')
      throw new CelError(`Syntax error: expected identifier, got '${t.text}'`);
    this.index++;
    return t.text;
  }

  private primary(): Node {
    const t = this.peek();
    if (t.kind === 'number' || t.kind === 'int' || t.kind === 'string') {
      this.index++;
      return () => t.value;
    }
    if (this.accept('(')) {
      const inner = this.expression();
      this.expect(')');
      return inner;
    }
    if (this.accept('[')) {
      const items: Node[] = [];
      if (!this.accept(']')) {
        do items.push(this.expression());
        while (this.accept(','));
        this.expect(']');
      }
      return (env) => items.map((item) => item(env));
    }
    const name = this.identifier();
    if (name === 'true') return () => true;
    if (name === 'false') return () => false;
    if (name === 'null') return () => null;
    if (name === 'has') return this.hasMacro();
    if (this.accept('(')) {
      if (!FUNCTIONS.has(name)) throw new CelError(`undeclared reference to '${name}'`);
      const args = this.arguments();
      return (env) =>
        callFunction(
          name,
          args.map((a) => a(env)),
        );
    }
    return (env) => {
      if (!env.has(name)) throw new CelError(`undeclared reference to '${name}'`);
      return env.get(name);
    };
  }

  /** has(x.f): whether the map x has the field f (x itself must exist). */
  private hasMacro(): Node {
    this.expect('(');
    let target = this.primary();
    let field: string | undefined;
    while (this.accept('.')) {
      if (field !== undefined) {
        const parent = target;
        const name = field;
        target = (env) => select(parent(env), name);
      }
      field = this.identifier();
    }
    this.expect(')');
    if (field === undefined) throw new CelError('invalid argument to has() macro');
    const name = field;
    return (env) => {
      const t = target(env);
      return t !== null && typeof t === 'object' && !Array.isArray(t) && name in t;
    };
  }
}

export interface CelProgram {
  /** Evaluates with `self` (and `oldSelf` on updates); throws CelError on runtime errors. */
  evaluate(self: unknown, oldSelf?: unknown): unknown;
  readonly usesOldSelf: boolean;
}

/** Compiles a rule; throws CelError when it is outside the supported subset. */
export function compileCel(rule: string): CelProgram {
  const tokens = tokenize(rule);
  const node = new Parser(tokens).parse();
  const usesOldSelf = tokens.some((t) => t.kind === 'ident' && t.text === 'oldSelf');
  return {
    usesOldSelf,
    evaluate(self, oldSelf) {
      const env = new Map<string, Value>([['self', self]]);
      if (oldSelf !== undefined) env.set('oldSelf', oldSelf);
      return node(env);
    },
  };
}
