/**
 * CloudEvents Subscriptions API filter dialects (exact, prefix, suffix, all, any, not) compiled
 * once per Subscription into a plain predicate over context attributes, so the dispatcher's hot
 * path does no parsing. Shared in core/ so the operator can reject a bad filter at compile time
 * with the very code the dispatcher runs.
 *
 * Semantics (https://github.com/cloudevents/spec/blob/main/subscriptions/spec.md §3.2.4):
 * - the top-level list is ANDed; an empty list matches every event;
 * - exact/prefix/suffix compare the string form of the named attribute, case-sensitively; a
 *   missing attribute never matches. Several attributes in one object are ANDed (as Knative
 *   does; the spec asks for exactly one);
 * - all/any need at least one nested filter; not negates one;
 * - sql is a CESQL 1.0 expression (./cesql/), compiled here once: it matches when it evaluates
 *   to the Boolean TRUE with no error (spec §1.2: an evaluation error means no match). What
 *   can never match is refused now, not discovered per event: an expression that does not
 *   parse, calls a function that does not exist, or always yields an Integer or a String.
 */
import type { AttributeValue } from '../cloudevents/types.js';
import type { Filter } from '../resources/types.js';
import { CesqlType, compileCesql, isCesqlParseError, type CesqlExpression } from './cesql/index.js';

export const FilterErrorCode = {
  /**
   * A dialect Herald knows of but does not evaluate. None today (`sql` is evaluated since
   * CESQL landed); kept so the code stays stable for callers that branch on it.
   */
  UnsupportedDialect: 'ERR_FILTER_UNSUPPORTED_DIALECT',
  /**
   * Not a valid filter expression (unknown dialect, wrong shape, empty), or a CESQL
   * expression that does not parse or can never match.
   */
  InvalidFilter: 'ERR_FILTER_INVALID',
} as const;
export type FilterErrorCode = (typeof FilterErrorCode)[keyof typeof FilterErrorCode];

export class FilterError extends Error {
  readonly code: FilterErrorCode;
  /** Where in the filter list the fault is, e.g. `filters[1].any[0]`. */
  readonly path: string;
  /** The message without the path, for reports that show the path on their own. */
  readonly detail: string;
  /** For `sql`: the 0-based offset in the expression where the parser stopped. */
  readonly position?: number;
  constructor(
    code: FilterErrorCode,
    path: string,
    message: string,
    options?: { position?: number; cause?: unknown },
  ) {
    super(
      `${path}: ${message}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'FilterError';
    this.code = code;
    this.path = path;
    this.detail = message;
    if (options?.position !== undefined) this.position = options.position;
  }
}

export function isFilterError(err: unknown, code?: FilterErrorCode): err is FilterError {
  return err instanceof FilterError && (code === undefined || err.code === code);
}

/** Context attributes by lower-case name, as CloudEvent.attributes holds them. */
export type FilterAttributes = Readonly<Record<string, AttributeValue | undefined>>;
export type FilterPredicate = (attributes: FilterAttributes) => boolean;

export const FilterDialect = {
  Exact: 'exact',
  Prefix: 'prefix',
  Suffix: 'suffix',
  All: 'all',
  Any: 'any',
  Not: 'not',
  Sql: 'sql',
} as const;
export type FilterDialect = (typeof FilterDialect)[keyof typeof FilterDialect];

const KNOWN_DIALECTS = new Set<string>(Object.values(FilterDialect));

const matchAll: FilterPredicate = () => true;

/** Compiles a Subscription's filter list (ANDed) into one predicate; throws FilterError. */
export function compileFilters(filters: readonly Filter[]): FilterPredicate {
  if (!Array.isArray(filters)) {
    throw new FilterError(FilterErrorCode.InvalidFilter, 'filters', 'must be a list');
  }
  const predicates = filters.map((f, i) => compileFilter(f, `filters[${i}]`));
  return combineAll(predicates) ?? matchAll;
}

function combineAll(predicates: FilterPredicate[]): FilterPredicate | undefined {
  if (predicates.length === 0) return undefined;
  if (predicates.length === 1) return predicates[0];
  return (attributes) => predicates.every((p) => p(attributes));
}

function compileFilter(filter: unknown, path: string): FilterPredicate {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
    throw new FilterError(FilterErrorCode.InvalidFilter, path, 'must be an object');
  }
  const keys = Object.keys(filter);
  if (keys.length !== 1) {
    throw new FilterError(
      FilterErrorCode.InvalidFilter,
      path,
      `must have exactly one dialect key, found ${keys.length === 0 ? 'none' : keys.join(', ')}`,
    );
  }
  const dialect = keys[0] as string;
  if (!KNOWN_DIALECTS.has(dialect)) {
    throw new FilterError(FilterErrorCode.InvalidFilter, path, `unknown dialect "${dialect}"`);
  }
  const value = (filter as Record<string, unknown>)[dialect];
  const here = `${path}.${dialect}`;
  switch (dialect as FilterDialect) {
    case FilterDialect.Exact:
      return compileComparison(value, here, (actual, expected) => actual === expected);
    case FilterDialect.Prefix:
      return compileComparison(value, here, (actual, expected) => actual.startsWith(expected));
    case FilterDialect.Suffix:
      return compileComparison(value, here, (actual, expected) => actual.endsWith(expected));
    case FilterDialect.All:
      return combineAll(compileNested(value, here)) as FilterPredicate;
    case FilterDialect.Any: {
      const nested = compileNested(value, here);
      return (attributes) => nested.some((p) => p(attributes));
    }
    case FilterDialect.Not: {
      const inner = compileFilter(value, here);
      return (attributes) => !inner(attributes);
    }
    case FilterDialect.Sql:
      return compileSqlFilter(value, here);
  }
}

/**
 * One `sql` filter: a CESQL 1.0 expression as a predicate. Exported so the operator refuses a
 * bad expression at compile time with the very code the dispatcher runs. Throws FilterError.
 */
export function compileSqlFilter(expression: unknown, path = 'sql'): FilterPredicate {
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw new FilterError(FilterErrorCode.InvalidFilter, path, 'must be a CESQL expression');
  }
  let compiled: CesqlExpression;
  try {
    compiled = compileCesql(expression);
  } catch (err) {
    if (!isCesqlParseError(err)) throw err;
    throw new FilterError(
      FilterErrorCode.InvalidFilter,
      path,
      `CESQL expression does not parse: ${err.message}`,
      { position: err.position, cause: err },
    );
  }
  const [problem] = compiled.staticErrors;
  if (problem) {
    throw new FilterError(
      FilterErrorCode.InvalidFilter,
      path,
      `CESQL expression can never match: ${problem.message} (offset ${problem.position})`,
      { position: problem.position },
    );
  }
  const type = compiled.resultType;
  if (type !== undefined && type !== CesqlType.Boolean) {
    throw new FilterError(
      FilterErrorCode.InvalidFilter,
      path,
      `CESQL expression can never match: its value is ${type === CesqlType.Integer ? 'an' : 'a'} ${type}, and a filter needs a Boolean`,
    );
  }
  return (attributes) => compiled.test(attributes);
}

function compileNested(value: unknown, path: string): FilterPredicate[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new FilterError(FilterErrorCode.InvalidFilter, path, 'must be a non-empty list');
  }
  return value.map((f, i) => compileFilter(f, `${path}[${i}]`));
}

function compileComparison(
  value: unknown,
  path: string,
  compare: (actual: string, expected: string) => boolean,
): FilterPredicate {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FilterError(
      FilterErrorCode.InvalidFilter,
      path,
      'must map attribute names to strings',
    );
  }
  const pairs = Object.entries(value as Record<string, unknown>);
  if (pairs.length === 0) {
    throw new FilterError(FilterErrorCode.InvalidFilter, path, 'must name at least one attribute');
  }
  for (const [name, expected] of pairs) {
    if (typeof expected !== 'string') {
      throw new FilterError(FilterErrorCode.InvalidFilter, `${path}.${name}`, 'must be a string');
    }
  }
  const checks = pairs as [string, string][];
  // Own properties only: `constructor`, `toString`… are inherited by every object and must
  // read as missing attributes, not as functions whose text happens to match.
  return (attributes) =>
    checks.every(([name, expected]) => {
      const actual = Object.hasOwn(attributes, name) ? attributes[name] : undefined;
      return actual !== undefined && compare(String(actual), expected);
    });
}
