/**
 * The one way Herald builds the ajv that compiles EventType schemas. The operator compiles each
 * schema with it to refuse a bad one at apply time, and the broker validates `data` with it,
 * so a schema the operator accepts is exactly one the broker can use: both must call this.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * JSON Schema 2020-12 with ajv-formats. `strict: false`: user schemas may carry annotations ajv
 * does not know (x-*, examples…). `allErrors`: the broker reports every violation.
 * `validateSchema`: a schema that is not valid JSON Schema fails to compile. `logger: false`:
 * ajv never writes to the console; Herald's own logs say what matters.
 */
export function createSchemaAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: true, logger: false });
  addFormats(ajv);
  return ajv;
}
