/** The CESQL syntax tree the parser produces and the compiler turns into evaluators. */

/** CESQL values: Boolean, Integer (a 32-bit signed JS number) and String. */
export type CesqlValue = string | number | boolean;

export const CesqlType = {
  Boolean: 'Boolean',
  Integer: 'Integer',
  String: 'String',
} as const;
export type CesqlType = (typeof CesqlType)[keyof typeof CesqlType];

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

export const UnaryOperator = { Not: 'NOT', Negate: '-' } as const;
export type UnaryOperator = (typeof UnaryOperator)[keyof typeof UnaryOperator];

export const BinaryOperator = {
  Multiply: '*',
  Divide: '/',
  Modulo: '%',
  Add: '+',
  Subtract: '-',
  Equal: '=',
  NotEqual: '!=',
  /** Same as `!=`; kept apart only so a printed tree shows what was written. */
  LessGreater: '<>',
  Less: '<',
  LessOrEqual: '<=',
  Greater: '>',
  GreaterOrEqual: '>=',
} as const;
export type BinaryOperator = (typeof BinaryOperator)[keyof typeof BinaryOperator];

/** AND, OR and XOR share one precedence level; a run of one operator is one n-ary node. */
export const LogicalOperator = { And: 'AND', Or: 'OR', Xor: 'XOR' } as const;
export type LogicalOperator = (typeof LogicalOperator)[keyof typeof LogicalOperator];

interface NodeBase {
  /** 0-based offset in the expression: the operator for operations, else the first token. */
  readonly position: number;
}

export interface LiteralNode extends NodeBase {
  readonly kind: 'literal';
  readonly value: CesqlValue;
}

/** A context attribute or extension; `name` is lower-cased (attribute names are). */
export interface AttributeNode extends NodeBase {
  readonly kind: 'attribute';
  readonly name: string;
}

export interface ExistsNode extends NodeBase {
  readonly kind: 'exists';
  readonly name: string;
}

export interface UnaryNode extends NodeBase {
  readonly kind: 'unary';
  readonly operator: UnaryOperator;
  readonly operand: CesqlNode;
}

export interface BinaryNode extends NodeBase {
  readonly kind: 'binary';
  readonly operator: BinaryOperator;
  readonly left: CesqlNode;
  readonly right: CesqlNode;
}

export interface LogicalNode extends NodeBase {
  readonly kind: 'logical';
  readonly operator: LogicalOperator;
  /** Two or more, evaluated left to right. */
  readonly operands: readonly CesqlNode[];
}

export interface LikeNode extends NodeBase {
  readonly kind: 'like';
  readonly operand: CesqlNode;
  /** The pattern as the string literal's value: `%`, `_`, and `\%` `\_` escapes. */
  readonly pattern: string;
  readonly negated: boolean;
}

export interface InNode extends NodeBase {
  readonly kind: 'in';
  readonly operand: CesqlNode;
  /** One or more. */
  readonly set: readonly CesqlNode[];
  readonly negated: boolean;
}

export interface CallNode extends NodeBase {
  readonly kind: 'call';
  /** Upper-cased: function names are case-insensitive. */
  readonly name: string;
  readonly args: readonly CesqlNode[];
}

export type CesqlNode =
  | LiteralNode
  | AttributeNode
  | ExistsNode
  | UnaryNode
  | BinaryNode
  | LogicalNode
  | LikeNode
  | InNode
  | CallNode;
