export {
  compileFilters,
  compileSqlFilter,
  FilterDialect,
  FilterError,
  FilterErrorCode,
  isFilterError,
  type FilterAttributes,
  type FilterPredicate,
} from './compile-filters.js';
