/**
 * The built-in functions every CESQL 1.0 engine must provide (spec §3.5): string manipulation,
 * ABS, and the casting functions. Names are case-insensitive; overloads differ by arity only.
 * Arguments arrive already cast to the parameter types (`Any` = as they are). Characters are
 * Unicode code points, so LENGTH('😀') is 1.
 */
import { CesqlType, INT32_MAX, INT32_MIN, type CesqlValue } from './ast.js';
import { castToBoolean, castToInteger, castToString } from './cast.js';
import { CesqlErrorKind } from './errors.js';
import { raise, raiseCast, type EvalState } from './state.js';

/** A parameter type: a CESQL type, or Any for the casting functions (no implicit cast). */
export type ParameterType = CesqlType | 'Any';

export interface FunctionSignature {
  readonly name: string;
  readonly parameters: readonly ParameterType[];
  /** Type of the arguments after the fixed ones, for variadic functions. */
  readonly variadic?: CesqlType;
  readonly returns: CesqlType;
  /** `args[0..argc)` hold the arguments; the array is reused between calls. */
  invoke(args: readonly CesqlValue[], argc: number, s: EvalState, position: number): CesqlValue;
}

const S = CesqlType.String;
const I = CesqlType.Integer;
const B = CesqlType.Boolean;

const SURROGATE = /[\uD800-\uDFFF]/;

/** Length in code points. */
function lengthOf(value: string): number {
  if (!SURROGATE.test(value)) return value.length;
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/** Slice by code point indexes (0-based, end exclusive). */
function sliceOf(value: string, start: number, end: number): string {
  if (!SURROGATE.test(value)) return value.slice(start, end);
  return Array.from(value).slice(start, end).join('');
}

/** Unicode White_Space (which is not quite what String.prototype.trim removes). */
function isWhiteSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

function trim(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isWhiteSpace(value.charCodeAt(start))) start++;
  while (end > start && isWhiteSpace(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function substring(
  value: string,
  pos: number,
  len: number | undefined,
  s: EvalState,
  position: number,
): string {
  const length = lengthOf(value);
  if (pos > length || pos < -length) {
    raise(
      s,
      CesqlErrorKind.FunctionEvaluation,
      position,
      `SUBSTRING: position ${pos} is outside a string of length ${length}`,
    );
    return '';
  }
  if (len !== undefined && len < 0) {
    raise(s, CesqlErrorKind.FunctionEvaluation, position, `SUBSTRING: negative length ${len}`);
    return '';
  }
  if (pos === 0) return '';
  const start = pos > 0 ? pos - 1 : length + pos;
  const end = len === undefined ? length : Math.min(length, start + len);
  return sliceOf(value, start, end);
}

function leftOrRight(
  name: 'LEFT' | 'RIGHT',
  value: string,
  count: number,
  s: EvalState,
  position: number,
): string {
  if (count < 0) {
    raise(s, CesqlErrorKind.FunctionEvaluation, position, `${name}: negative length ${count}`);
    return value;
  }
  const length = lengthOf(value);
  if (count >= length) return value;
  return name === 'LEFT' ? sliceOf(value, 0, count) : sliceOf(value, length - count, length);
}

const str = (args: readonly CesqlValue[], i: number): string => args[i] as string;
const int = (args: readonly CesqlValue[], i: number): number => args[i] as number;

const BUILT_INS: readonly FunctionSignature[] = [
  { name: 'LENGTH', parameters: [S], returns: I, invoke: (a) => lengthOf(str(a, 0)) },
  {
    name: 'CONCAT',
    parameters: [],
    variadic: S,
    returns: S,
    invoke: (a, argc) => {
      let out = '';
      for (let i = 0; i < argc; i++) out += str(a, i);
      return out;
    },
  },
  {
    name: 'CONCAT_WS',
    parameters: [S],
    variadic: S,
    returns: S,
    invoke: (a, argc) => {
      const delimiter = str(a, 0);
      let out = argc > 1 ? str(a, 1) : '';
      for (let i = 2; i < argc; i++) out += delimiter + str(a, i);
      return out;
    },
  },
  { name: 'LOWER', parameters: [S], returns: S, invoke: (a) => str(a, 0).toLowerCase() },
  { name: 'UPPER', parameters: [S], returns: S, invoke: (a) => str(a, 0).toUpperCase() },
  { name: 'TRIM', parameters: [S], returns: S, invoke: (a) => trim(str(a, 0)) },
  {
    name: 'LEFT',
    parameters: [S, I],
    returns: S,
    invoke: (a, _n, s, p) => leftOrRight('LEFT', str(a, 0), int(a, 1), s, p),
  },
  {
    name: 'RIGHT',
    parameters: [S, I],
    returns: S,
    invoke: (a, _n, s, p) => leftOrRight('RIGHT', str(a, 0), int(a, 1), s, p),
  },
  {
    name: 'SUBSTRING',
    parameters: [S, I],
    returns: S,
    invoke: (a, _n, s, p) => substring(str(a, 0), int(a, 1), undefined, s, p),
  },
  {
    name: 'SUBSTRING',
    parameters: [S, I, I],
    returns: S,
    invoke: (a, _n, s, p) => substring(str(a, 0), int(a, 1), int(a, 2), s, p),
  },
  {
    name: 'ABS',
    parameters: [I],
    returns: I,
    invoke: (a, _n, s, p) => {
      const x = int(a, 0);
      if (x !== INT32_MIN) return Math.abs(x);
      raise(s, CesqlErrorKind.Math, p, 'ABS: -2147483648 has no 32-bit absolute value');
      return INT32_MAX;
    },
  },
  {
    name: 'INT',
    parameters: ['Any'],
    returns: I,
    invoke: (a, _n, s, p) => {
      const x = a[0] as CesqlValue;
      const cast = castToInteger(x);
      if (cast !== undefined) return cast;
      raiseCast(s, p, x, I);
      return 0;
    },
  },
  {
    name: 'BOOL',
    parameters: ['Any'],
    returns: B,
    invoke: (a, _n, s, p) => {
      const x = a[0] as CesqlValue;
      const cast = castToBoolean(x);
      if (cast !== undefined) return cast;
      raiseCast(s, p, x, B);
      return false;
    },
  },
  {
    name: 'STRING',
    parameters: ['Any'],
    returns: S,
    invoke: (a) => castToString(a[0] as CesqlValue),
  },
  {
    name: 'IS_INT',
    parameters: ['Any'],
    returns: B,
    invoke: (a) => castToInteger(a[0] as CesqlValue) !== undefined,
  },
  {
    name: 'IS_BOOL',
    parameters: ['Any'],
    returns: B,
    invoke: (a) => castToBoolean(a[0] as CesqlValue) !== undefined,
  },
];

interface Overloads {
  fixed: Map<number, FunctionSignature>;
  variadic?: FunctionSignature;
}

const REGISTRY: ReadonlyMap<string, Overloads> = buildRegistry(BUILT_INS);

function buildRegistry(signatures: readonly FunctionSignature[]): Map<string, Overloads> {
  const registry = new Map<string, Overloads>();
  for (const sig of signatures) {
    let entry = registry.get(sig.name);
    if (!entry) registry.set(sig.name, (entry = { fixed: new Map() }));
    if (sig.variadic) entry.variadic = sig;
    else entry.fixed.set(sig.parameters.length, sig);
  }
  return registry;
}

/** The overload for `name` (upper-cased) called with `arity` arguments, if there is one. */
export function resolveFunction(name: string, arity: number): FunctionSignature | undefined {
  const entry = REGISTRY.get(name);
  if (!entry) return undefined;
  const fixed = entry.fixed.get(arity);
  if (fixed) return fixed;
  const variadic = entry.variadic;
  return variadic && arity >= variadic.parameters.length ? variadic : undefined;
}

/** Names of the built-ins with their arities, for error messages and docs. */
export function listFunctions(): string[] {
  return BUILT_INS.map((f) => `${f.name}/${f.parameters.length}${f.variadic ? '+' : ''}`);
}
