export {
  BinaryOperator,
  CesqlType,
  INT32_MAX,
  INT32_MIN,
  LogicalOperator,
  UnaryOperator,
  type CesqlNode,
  type CesqlValue,
} from './ast.js';
export { compileCesql, type CesqlExpression, type CesqlResult } from './compile-cesql.js';
export type { CesqlAttributes } from './compile-node.js';
export {
  CesqlErrorKind,
  CesqlParseError,
  isCesqlParseError,
  type CesqlEvaluationError,
} from './errors.js';
export { listFunctions } from './functions.js';
export { MAX_NESTING, parseCesql } from './parser.js';
