/**
 * CESQL error kinds (spec §3.3). Parse errors are thrown: an expression that does not parse
 * has no value. Every other kind is reported next to a value, never thrown, because CESQL
 * operators and functions are total: evaluation always yields a value plus an error list.
 */

/** The spec's error types, spelled as the TCK spells them (they are the stable codes). */
export const CesqlErrorKind = {
  Parse: 'parse',
  Math: 'math',
  Cast: 'cast',
  MissingAttribute: 'missingAttribute',
  MissingFunction: 'missingFunction',
  FunctionEvaluation: 'functionEvaluation',
  Generic: 'generic',
} as const;
export type CesqlErrorKind = (typeof CesqlErrorKind)[keyof typeof CesqlErrorKind];

/**
 * An error raised while evaluating. A plain object, not an Error: building a stack trace per
 * event would cost more than the evaluation itself.
 */
export interface CesqlEvaluationError {
  readonly kind: Exclude<CesqlErrorKind, 'parse'>;
  readonly message: string;
  /** 0-based offset in the expression of the operator or operand that raised it. */
  readonly position: number;
}

/** Thrown by the parser (and so by compileCesql) for an expression that is not CESQL 1.0. */
export class CesqlParseError extends Error {
  readonly kind = CesqlErrorKind.Parse;
  /** 0-based offset in the expression where the problem was found. */
  readonly position: number;
  /** 1-based line and column of `position`, for messages shown to people. */
  readonly line: number;
  readonly column: number;
  /** The problem without the location, e.g. `expected ')'`. */
  readonly reason: string;

  constructor(reason: string, expression: string, position: number) {
    const { line, column } = locate(expression, position);
    super(`${reason} at line ${line}, column ${column} (offset ${position})`);
    this.name = 'CesqlParseError';
    this.reason = reason;
    this.position = position;
    this.line = line;
    this.column = column;
  }
}

export function isCesqlParseError(err: unknown): err is CesqlParseError {
  return err instanceof CesqlParseError;
}

function locate(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
}
