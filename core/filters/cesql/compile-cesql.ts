/**
 * The CESQL entry point: compile an expression once, evaluate it per event.
 *
 *   const expr = compileCesql("subject LIKE 'eu-%' AND myext > 2");   // throws CesqlParseError
 *   expr.evaluate(event.attributes)   // { value, errors }: the spec's value and error list
 *   expr.test(event.attributes)       // the filter verdict: TRUE and no error
 */
import type { CesqlNode, CesqlType, CesqlValue } from './ast.js';
import { compileNode, type CesqlAttributes, type Evaluator } from './compile-node.js';
import type { CesqlEvaluationError } from './errors.js';
import { parseCesql } from './parser.js';
import type { EvalState } from './state.js';

export interface CesqlResult {
  value: CesqlValue;
  /** Empty when nothing went wrong. */
  errors: CesqlEvaluationError[];
}

export interface CesqlExpression {
  readonly source: string;
  readonly ast: CesqlNode;
  /** The type of every result; undefined for a bare attribute, whose type is the value's. */
  readonly resultType: CesqlType | undefined;
  /**
   * Errors every evaluation raises whatever the event, found at compile time (spec §3.3
   * asks for such checks): calls to functions that do not exist or with a wrong arity.
   */
  readonly staticErrors: readonly CesqlEvaluationError[];
  /** The value and the error list (spec §1: "complete evaluation"). */
  evaluate(attributes: CesqlAttributes): CesqlResult;
  /**
   * Whether the event passes the expression as a Subscriptions API filter (spec §1.2): the
   * value is the Boolean TRUE and no error was raised. Allocates nothing.
   */
  test(attributes: CesqlAttributes): boolean;
}

/** Parses and compiles; throws CesqlParseError for an expression that is not CESQL 1.0. */
export function compileCesql(source: string): CesqlExpression {
  const ast = parseCesql(source);
  const staticErrors: CesqlEvaluationError[] = [];
  const { run, type } = compileNode(ast, staticErrors);
  return new CompiledExpression(source, ast, type, staticErrors, run);
}

class CompiledExpression implements CesqlExpression {
  /** Reused by test(): evaluation is synchronous, so one state per expression suffices. */
  private readonly counting: EvalState = { errors: 0, list: undefined };

  constructor(
    readonly source: string,
    readonly ast: CesqlNode,
    readonly resultType: CesqlType | undefined,
    readonly staticErrors: readonly CesqlEvaluationError[],
    private readonly run: Evaluator,
  ) {}

  evaluate(attributes: CesqlAttributes): CesqlResult {
    const errors: CesqlEvaluationError[] = [];
    const value = this.run(attributes, { errors: 0, list: errors });
    return { value, errors };
  }

  test(attributes: CesqlAttributes): boolean {
    const s = this.counting;
    s.errors = 0;
    return this.run(attributes, s) === true && s.errors === 0;
  }
}
