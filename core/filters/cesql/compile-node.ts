/**
 * Turns a CESQL tree into nested closures, once per expression, so evaluating an event is a
 * walk of plain function calls: no tree dispatch, no allocation (LIKE matchers, IN sets of
 * literals and function argument buffers are built here).
 *
 * Error rule, the one the TCK encodes: a node that raises an error returns its own defined
 * value (5 / 0 is 0, ABS(-2147483648) is 2147483647, LEFT('abc', -2) is 'abc'); a node whose
 * operand raised, or whose operand cannot be cast to the operator's type, returns the zero
 * value of its own return type (false, 0, ''), so `NOT missing` is false and
 * `true AND (1 != 1 / 0)` is false. AND/OR stop at the first operand that is false/true or
 * raised (short-circuit), so later errors are not collected; other operators evaluate every
 * operand. Integer overflow in + - * / and unary - wraps (32-bit two's complement, as the Go
 * and Java SDKs compute) and raises a MathError, like ABS's overflow in the spec.
 */
import {
  BinaryOperator,
  CesqlType,
  INT32_MAX,
  INT32_MIN,
  LogicalOperator,
  UnaryOperator,
  type BinaryNode,
  type CallNode,
  type CesqlNode,
  type CesqlValue,
  type LogicalNode,
} from './ast.js';
import {
  castTo,
  castToBoolean,
  castToInteger,
  castToString,
  typeOfValue,
  zeroValueOf,
} from './cast.js';
import { CesqlErrorKind, type CesqlEvaluationError } from './errors.js';
import { fastCompare, fastLike } from './fast-paths.js';
import { compileIn } from './compile-in.js';
import { resolveFunction } from './functions.js';
import { compileLikePattern } from './like.js';
import { raise, raiseCast, type EvalState } from './state.js';

/** Context attributes by (lower-case) name, as core/cloudevents keeps them. */
export type CesqlAttributes = Readonly<Record<string, CesqlValue | undefined>>;
export type Evaluator = (attributes: CesqlAttributes, s: EvalState) => CesqlValue;

export interface CompiledNode {
  run: Evaluator;
  /** Known before evaluation, except for a bare attribute (its type is the value's). */
  type: CesqlType | undefined;
}

const B = CesqlType.Boolean;
const I = CesqlType.Integer;

/** `problems` collects what is wrong whatever the event: calls to unknown functions. */
export function compileNode(node: CesqlNode, problems: CesqlEvaluationError[]): CompiledNode {
  switch (node.kind) {
    case 'literal': {
      const value = node.value;
      return { run: () => value, type: typeOfValue(value) };
    }
    case 'attribute':
      return { run: readAttribute(node.name, node.position), type: undefined };
    case 'exists': {
      const name = node.name;
      return { run: (a) => isPresent(a[name]), type: B };
    }
    case 'unary':
      return node.operator === UnaryOperator.Not
        ? { run: compileNot(compileNode(node.operand, problems).run, node.position), type: B }
        : { run: compileNegate(compileNode(node.operand, problems).run, node.position), type: I };
    case 'binary':
      return compileBinary(node, problems);
    case 'logical':
      return { run: compileLogical(node, problems), type: B };
    case 'like': {
      const operand = compileNode(node.operand, problems).run;
      const match = compileLikePattern(node.pattern);
      const negated = node.negated;
      const run: Evaluator = (a, s) => {
        const mark = s.errors;
        const v = operand(a, s);
        if (s.errors !== mark) return false;
        return match(castToString(v)) !== negated;
      };
      return { run: fastLike(node.operand, match, negated, run), type: B };
    }
    case 'in': {
      const operand = compileNode(node.operand, problems).run;
      const elements = node.set.map((n) => compileNode(n, problems).run);
      return { run: compileIn(node, operand, elements), type: B };
    }
    case 'call':
      return compileCall(node, problems);
  }
}

function isPresent(value: unknown): boolean {
  const t = typeof value;
  return t === 'string' || t === 'number' || t === 'boolean';
}

/**
 * Attribute values keep their type (string, integer, boolean). Anything else is not an
 * attribute: inherited members such as `constructor` are functions, `__proto__` an object.
 */
function readAttribute(name: string, position: number): Evaluator {
  const message = `attribute "${name}" is not present in the event`;
  return (a, s) => {
    const v = a[name];
    if (typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      const n = v | 0;
      // Not a CESQL Integer (fraction, beyond 32 bits): the spec says to read it as a String.
      return n === v ? n : String(v);
    }
    raise(s, CesqlErrorKind.MissingAttribute, position, message);
    return false;
  };
}

function compileNot(operand: Evaluator, position: number): Evaluator {
  return (a, s) => {
    const mark = s.errors;
    const v = operand(a, s);
    if (s.errors !== mark) return false;
    const b = castToBoolean(v);
    if (b === undefined) {
      raiseCast(s, position, v, B);
      return false;
    }
    return !b;
  };
}

function compileNegate(operand: Evaluator, position: number): Evaluator {
  return (a, s) => {
    const mark = s.errors;
    const v = operand(a, s);
    if (s.errors !== mark) return 0;
    const x = castToInteger(v);
    if (x === undefined) {
      raiseCast(s, position, v, I);
      return 0;
    }
    if (x === INT32_MIN) overflow(s, position, '-');
    return (0 - x) | 0;
  };
}

function overflow(s: EvalState, position: number, operator: string): void {
  raise(s, CesqlErrorKind.Math, position, `integer overflow in ${operator}`);
}

type IntegerOperation = (x: number, y: number, s: EvalState, position: number) => CesqlValue;

function checked(r: number, s: EvalState, position: number, operator: string): number {
  if (r > INT32_MAX || r < INT32_MIN) overflow(s, position, operator);
  return r | 0;
}

const INTEGER_OPERATIONS: Partial<Record<BinaryOperator, IntegerOperation>> = {
  '+': (x, y, s, p) => checked(x + y, s, p, '+'),
  '-': (x, y, s, p) => checked(x - y, s, p, '-'),
  '*': (x, y, s, p) => {
    // The double product is exact enough to tell overflow; imul gives the wrapped value.
    checked(x * y, s, p, '*');
    return Math.imul(x, y);
  },
  '/': (x, y, s, p) => {
    if (y === 0) {
      raise(s, CesqlErrorKind.Math, p, 'division by zero');
      return 0;
    }
    return checked(Math.trunc(x / y), s, p, '/');
  },
  // JS % truncates, so the remainder has the dividend's sign, as the spec asks.
  '%': (x, y, s, p) => {
    if (y !== 0) return (x % y) | 0;
    raise(s, CesqlErrorKind.Math, p, 'modulo by zero');
    return 0;
  },
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
};

function compileBinary(node: BinaryNode, problems: CesqlEvaluationError[]): CompiledNode {
  const left = compileNode(node.left, problems).run;
  const right = compileNode(node.right, problems).run;
  const position = node.position;
  const op = node.operator;
  if (
    op === BinaryOperator.Equal ||
    op === BinaryOperator.NotEqual ||
    op === BinaryOperator.LessGreater
  ) {
    const run = compileEquality(left, right, op !== BinaryOperator.Equal, position);
    return { run: fastCompare(op, node.left, node.right, run), type: B };
  }
  const operation = INTEGER_OPERATIONS[op] as IntegerOperation;
  const returns = op === '<' || op === '<=' || op === '>' || op === '>=' ? B : I;
  const zero = zeroValueOf(returns);
  const run: Evaluator = (a, s) => {
    const mark = s.errors;
    const l = left(a, s);
    const r = right(a, s);
    if (s.errors !== mark) return zero;
    const x = castToInteger(l);
    if (x === undefined) {
      raiseCast(s, position, l, I);
      return zero;
    }
    const y = castToInteger(r);
    if (y === undefined) {
      raiseCast(s, position, r, I);
      return zero;
    }
    return operation(x, y, s, position);
  };
  return { run: fastCompare(op, node.left, node.right, run), type: returns };
}

/**
 * `=` is defined for each type, so it is ambiguous: the right operand's type picks the
 * definition and the left operand is cast to it (§3.7), so `true = 'TRUE'` is false and
 * `'TRUE' = true` is true.
 */
function compileEquality(
  left: Evaluator,
  right: Evaluator,
  negated: boolean,
  position: number,
): Evaluator {
  return (a, s) => {
    const mark = s.errors;
    const l = left(a, s);
    const r = right(a, s);
    if (s.errors !== mark) return false;
    const x =
      typeof r === 'number'
        ? castToInteger(l)
        : typeof r === 'boolean'
          ? castToBoolean(l)
          : castToString(l);
    if (x === undefined) {
      raiseCast(s, position, l, typeOfValue(r));
      return false;
    }
    return (x === r) !== negated;
  };
}

function compileLogical(node: LogicalNode, problems: CesqlEvaluationError[]): Evaluator {
  const operands = node.operands.map((o) => compileNode(o, problems).run);
  const n = operands.length;
  const position = node.position;
  /** Operand i as a Boolean; a failed cast raises (callers see it in `s.errors`). */
  const truth = (i: number, a: CesqlAttributes, s: EvalState): boolean => {
    const v = (operands[i] as Evaluator)(a, s);
    if (typeof v === 'boolean') return v;
    const b = castToBoolean(v);
    if (b !== undefined) return b;
    raiseCast(s, position, v, B);
    return false;
  };
  switch (node.operator) {
    case LogicalOperator.And:
      return (a, s) => {
        const mark = s.errors;
        for (let i = 0; i < n; i++) {
          if (!truth(i, a, s) || s.errors !== mark) return false;
        }
        return true;
      };
    case LogicalOperator.Or:
      return (a, s) => {
        const mark = s.errors;
        for (let i = 0; i < n; i++) {
          const b = truth(i, a, s);
          if (s.errors !== mark) return false;
          if (b) return true;
        }
        return false;
      };
    case LogicalOperator.Xor:
      return (a, s) => {
        const mark = s.errors;
        let odd = false;
        for (let i = 0; i < n; i++) {
          if (truth(i, a, s)) odd = !odd;
          if (s.errors !== mark) return false;
        }
        return odd;
      };
  }
}

function compileCall(node: CallNode, problems: CesqlEvaluationError[]): CompiledNode {
  const arity = node.args.length;
  const position = node.position;
  const signature = resolveFunction(node.name, arity);
  if (!signature) {
    // Known now, whatever the event: the filter compiler refuses it; evaluation still
    // returns what the spec says (false with a MissingFunctionError).
    const message = `no function ${node.name} takes ${arity} argument${arity === 1 ? '' : 's'}`;
    problems.push({ kind: CesqlErrorKind.MissingFunction, message, position });
    return {
      run: (_a, s) => {
        raise(s, CesqlErrorKind.MissingFunction, position, message);
        return false;
      },
      type: B,
    };
  }
  const args = node.args.map((n) => compileNode(n, problems).run);
  const types = args.map((_, i) => signature.parameters[i] ?? signature.variadic ?? 'Any');
  const zero = zeroValueOf(signature.returns);
  // One argument buffer per call site, reused by every evaluation.
  const buffer: CesqlValue[] = args.map(() => false);
  const run: Evaluator = (a, s) => {
    const mark = s.errors;
    for (let i = 0; i < arity; i++) buffer[i] = (args[i] as Evaluator)(a, s);
    if (s.errors !== mark) return zero;
    for (let i = 0; i < arity; i++) {
      const type = types[i];
      if (type === 'Any' || type === undefined) continue;
      const v = buffer[i] as CesqlValue;
      const cast = castTo(type, v);
      if (cast === undefined) {
        raiseCast(s, position, v, type);
        return zero;
      }
      buffer[i] = cast;
    }
    return signature.invoke(buffer, arity, s, position);
  };
  return { run, type: signature.returns };
}
