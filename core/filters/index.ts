export {
  compileFilters,
  FilterDialect,
  FilterError,
  FilterErrorCode,
  isFilterError,
  type FilterAttributes,
  type FilterPredicate,
} from './compile-filters.js';
