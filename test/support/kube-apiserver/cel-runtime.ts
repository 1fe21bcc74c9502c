/**
 * The values and operations of the CEL subset in cel.ts: equality, comparison, arithmetic,
 * the string and size functions, and the list macros. Runtime errors are CelErrors.
 */

export class CelError extends Error {}

export type Value = unknown;
export type Env = ReadonlyMap<string, Value>;
export type Node = (env: Env) => Value;

export function typeName(value: Value): string {
  if (value === null) return 'null_type';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'map';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'double';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    const ra = a as Record<string, Value>;
    const rb = b as Record<string, Value>;
    return ka.length === kb.length && ka.every((k) => k in rb && equal(ra[k], rb[k]));
  }
  return false;
}

export function asBool(value: Value): boolean {
  if (typeof value !== 'boolean')
    throw new CelError(`no such overload: expected bool, got ${typeName(value)}`);
  return value;
}

export function select(target: Value, field: string): Value {
  if (target === null || typeof target !== 'object' || Array.isArray(target)) {
    throw new CelError(`no such key: ${field}`);
  }
  const map = target as Record<string, Value>;
  if (!(field in map)) throw new CelError(`no such key: ${field}`);
  return map[field];
}

export function compare(op: string, a: Value, b: Value): boolean {
  if (op === '==') return equal(a, b);
  if (op === '!=') return !equal(a, b);
  if (op === 'in') {
    if (Array.isArray(b)) return b.some((x) => equal(x, a));
    if (b && typeof b === 'object') return typeof a === 'string' && a in b;
    throw new CelError(`no such overload: in ${typeName(b)}`);
  }
  const comparable =
    (typeof a === 'number' && typeof b === 'number') ||
    (typeof a === 'string' && typeof b === 'string');
  if (!comparable) throw new CelError(`no such overload: ${typeName(a)} ${op} ${typeName(b)}`);
  const x = a as number | string;
  const y = b as number | string;
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

export function arithmetic(op: string, a: Value, b: Value): Value {
  if (op === '+') {
    if (typeof a === 'string' && typeof b === 'string') return a + b;
    if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  }
  if (typeof a !== 'number' || typeof b !== 'number') {
    throw new CelError(`no such overload: ${typeName(a)} ${op} ${typeName(b)}`);
  }
  const integers = Number.isInteger(a) && Number.isInteger(b);
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      if (integers && b === 0) throw new CelError('division by zero');
      return integers ? Math.trunc(a / b) : a / b;
    default:
      if (b === 0) throw new CelError('modulus by zero');
      return a % b;
  }
}

function sizeOf(value: Value): number {
  if (typeof value === 'string') return [...value].length;
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === 'object') return Object.keys(value).length;
  throw new CelError(`no such overload: size(${typeName(value)})`);
}

export function callMethod(name: string, target: Value, args: Value[]): Value {
  const str = (): string => {
    if (typeof target !== 'string')
      throw new CelError(`no such overload: ${typeName(target)}.${name}`);
    return target;
  };
  const arg = (i: number): string => {
    const a = args[i];
    if (typeof a !== 'string') throw new CelError(`no such overload: ${name}(${typeName(a)})`);
    return a;
  };
  switch (name) {
    case 'size':
      return sizeOf(target);
    case 'startsWith':
      return str().startsWith(arg(0));
    case 'endsWith':
      return str().endsWith(arg(0));
    case 'contains':
      return str().includes(arg(0));
    case 'matches':
      return new RegExp(arg(0)).test(str());
    case 'lowerAscii':
      return str().toLowerCase();
    case 'upperAscii':
      return str().toUpperCase();
    case 'trim':
      return str().trim();
    default:
      throw new CelError(`undeclared reference to '${name}'`);
  }
}

export function callFunction(name: string, args: Value[]): Value {
  const [a] = args;
  switch (name) {
    case 'size':
      return sizeOf(a);
    case 'int':
      if (typeof a === 'string' && /^-?\d+$/.test(a)) return Number(a);
      if (typeof a === 'number') return Math.trunc(a);
      throw new CelError(`no such overload: int(${typeName(a)})`);
    case 'double':
      if (typeof a === 'number' || typeof a === 'string') return Number(a);
      throw new CelError(`no such overload: double(${typeName(a)})`);
    case 'string':
      return typeof a === 'string' ? a : JSON.stringify(a);
    default:
      throw new CelError(`undeclared reference to '${name}'`);
  }
}

/** Receiver-style functions (`x.size()`, `s.startsWith(p)`) and global ones (`size(x)`). */
export const METHODS = new Set([
  'size',
  'startsWith',
  'endsWith',
  'contains',
  'matches',
  'lowerAscii',
  'upperAscii',
  'trim',
]);
export const FUNCTIONS = new Set(['size', 'int', 'double', 'string']);

export const MACROS = new Set(['all', 'exists', 'exists_one', 'filter', 'map']);

export function runMacro(
  name: string,
  target: Value,
  variable: string,
  body: Node,
  env: Env,
): Value {
  const items = Array.isArray(target)
    ? target
    : target && typeof target === 'object'
      ? Object.keys(target)
      : undefined;
  if (!items) throw new CelError(`no such overload: ${typeName(target)}.${name}`);
  const run = (item: Value): Value => body(new Map([...env, [variable, item]]));
  switch (name) {
    case 'all':
      return items.every((item) => asBool(run(item)));
    case 'exists':
      return items.some((item) => asBool(run(item)));
    case 'exists_one':
      return items.filter((item) => asBool(run(item))).length === 1;
    case 'filter':
      return items.filter((item) => asBool(run(item)));
    default:
      return items.map(run);
  }
}
