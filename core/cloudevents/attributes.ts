/**
 * Context-attribute rules shared by every decoder (structured, batch, binary, and any other
 * format that fills a `CloudEvent`). Checks are ordered so the first failure is the most useful
 * one: an unsupported specversion is reported before anything version-specific.
 *
 * Messages are written for the client that sent the event: they name the attribute (with the
 * batch index as a prefix, e.g. `[3].id`) and the rule, and never echo large or raw values.
 */
import { isMediaType } from './media-type.js';
import { CodecError, CodecErrorCode, type AttributeValue } from './types.js';
import { isInt32, isTimestamp, isUriReference, isValidString } from './value-formats.js';

/**
 * The spec says names SHOULD NOT exceed 20 characters; that is advice, so longer names are
 * accepted up to this bound, which keeps headers and storage keys sane.
 */
export const MAX_ATTRIBUTE_NAME_LENGTH = 128;
const ATTRIBUTE_NAME = /^[a-z0-9]{1,128}$/;
const ATTRIBUTE_NAME_CHARACTERS = /^[a-z0-9]+$/;
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

export const SPEC_VERSION = '1.0';

/** Builds the error for one attribute; `path` is '' or a batch prefix such as '[3].'. */
export function createAttributeError(
  code: CodecErrorCode,
  path: string,
  name: string,
  reason: string,
): CodecError {
  const attribute = path + name;
  return new CodecError(code, `attribute "${attribute}" ${reason}`, { attribute });
}

export function isAttributeName(name: string): boolean {
  return ATTRIBUTE_NAME.test(name) && name !== 'data';
}

/** The attributes the spec defines; their names need no syntax check. */
export function isCoreAttributeName(name: string): boolean {
  switch (name) {
    case 'specversion':
    case 'id':
    case 'source':
    case 'type':
    case 'datacontenttype':
    case 'dataschema':
    case 'subject':
    case 'time':
      return true;
    default:
      return false;
  }
}

export function checkAttributeName(name: string, path: string): void {
  if (ATTRIBUTE_NAME.test(name)) {
    if (name !== 'data') return;
    throw new CodecError(
      CodecErrorCode.InvalidAttributeName,
      `attribute name "${path}data" is reserved for the event data`,
      { attribute: path + name },
    );
  }
  if (name.length > MAX_ATTRIBUTE_NAME_LENGTH && ATTRIBUTE_NAME_CHARACTERS.test(name)) {
    throw new CodecError(
      CodecErrorCode.InvalidAttributeName,
      `attribute name ${JSON.stringify(path + name.slice(0, 20))}… is ${name.length} ` +
        `characters long: at most ${MAX_ATTRIBUTE_NAME_LENGTH} are accepted`,
      { attribute: path + name },
    );
  }
  const shown =
    name.length > 40 || !PRINTABLE_ASCII.test(name) ? '' : ` ${JSON.stringify(path + name)}`;
  throw new CodecError(
    CodecErrorCode.InvalidAttributeName,
    `attribute name${shown} is invalid: names are lower-case ASCII letters and digits only`,
    { attribute: path + name },
  );
}

/** Echoes a short printable specversion back to the client; anything else is not shown. */
function describeVersion(value: string): string {
  return value.length <= 16 && PRINTABLE_ASCII.test(value) ? ` ${JSON.stringify(value)}` : '';
}

/** `specversion` first: every other rule here is a 1.0 rule. `undefined` means absent. */
export function checkSpecVersion(value: unknown, path: string): void {
  if (value === SPEC_VERSION) return;
  if (value === undefined) {
    throw createAttributeError(CodecErrorCode.MissingAttribute, path, 'specversion', 'is required');
  }
  if (typeof value !== 'string') {
    throw createAttributeError(
      CodecErrorCode.InvalidAttribute,
      path,
      'specversion',
      'must be a string',
    );
  }
  throw new CodecError(
    CodecErrorCode.UnsupportedSpecVersion,
    `specversion${describeVersion(value)} is not supported: only "${SPEC_VERSION}" is`,
    { attribute: path + 'specversion' },
  );
}

function requireString(name: string, value: unknown, path: string, nonEmpty: boolean): string {
  if (typeof value !== 'string') {
    throw createAttributeError(CodecErrorCode.InvalidAttribute, path, name, 'must be a string');
  }
  if (nonEmpty && value.length === 0) {
    throw createAttributeError(CodecErrorCode.InvalidAttribute, path, name, 'must not be empty');
  }
  return value;
}

function requireValidCharacters(name: string, value: string, path: string): void {
  if (!isValidString(value)) {
    throw createAttributeError(
      CodecErrorCode.InvalidAttribute,
      path,
      name,
      'contains a control character, a noncharacter or an unpaired surrogate',
    );
  }
}

function requireFormat(ok: boolean, name: string, path: string, rule: string): void {
  if (!ok) throw createAttributeError(CodecErrorCode.InvalidAttribute, path, name, rule);
}

/** Checks one attribute's name and value (never called with JSON `null`: that means absent). */
export function checkAttribute(name: string, value: unknown, path: string): void {
  if (!isCoreAttributeName(name)) checkAttributeName(name, path);
  checkAttributeValue(name, value, path, false);
}

/**
 * Checks a value for an attribute whose name is already known to be valid. `printable` says
 * the caller knows the value is printable ASCII (a plain header value), which makes the
 * character check redundant. URI, timestamp and media-type syntaxes are ASCII-only, so passing
 * them implies valid characters too.
 */
export function checkAttributeValue(
  name: string,
  value: unknown,
  path: string,
  printable: boolean,
): void {
  switch (name) {
    case 'specversion':
      checkSpecVersion(value, path);
      return;
    case 'id':
    case 'type':
    case 'subject': {
      const text = requireString(name, value, path, true);
      if (!printable) requireValidCharacters(name, text, path);
      return;
    }
    case 'source':
      requireFormat(
        isUriReference(requireString(name, value, path, true)),
        name,
        path,
        'must be a URI-reference (RFC 3986)',
      );
      return;
    case 'dataschema':
      requireFormat(
        isUriReference(requireString(name, value, path, true), true),
        name,
        path,
        'must be an absolute URI (RFC 3986)',
      );
      return;
    case 'time':
      requireFormat(
        isTimestamp(requireString(name, value, path, true)),
        name,
        path,
        'must be an RFC 3339 timestamp',
      );
      return;
    case 'datacontenttype':
      requireFormat(
        isMediaType(requireString(name, value, path, true)),
        name,
        path,
        'must be a media type (RFC 2046), e.g. "application/json"',
      );
      return;
    default:
      checkExtensionValue(name, value, path, printable);
  }
}

function checkExtensionValue(name: string, value: unknown, path: string, printable: boolean): void {
  switch (typeof value) {
    case 'string':
      if (!printable) requireValidCharacters(name, value, path);
      return;
    case 'boolean':
      return;
    case 'number':
      if (isInt32(value)) return;
      throw createAttributeError(
        CodecErrorCode.InvalidAttribute,
        path,
        name,
        Number.isInteger(value)
          ? 'is outside the 32-bit signed integer range'
          : 'must be an integer, not a fractional number',
      );
    default:
      throw createAttributeError(
        CodecErrorCode.InvalidAttribute,
        path,
        name,
        `must be a string, a boolean or an integer, not ${describeJsonType(value)}`,
      );
  }
}

function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** REQUIRED attributes other than specversion (checked first, on its own). */
export function checkRequiredAttributes(attributes: Record<string, unknown>, path: string): void {
  if (attributes.id === undefined) {
    throw createAttributeError(CodecErrorCode.MissingAttribute, path, 'id', 'is required');
  }
  if (attributes.source === undefined) {
    throw createAttributeError(CodecErrorCode.MissingAttribute, path, 'source', 'is required');
  }
  if (attributes.type === undefined) {
    throw createAttributeError(CodecErrorCode.MissingAttribute, path, 'type', 'is required');
  }
}

/**
 * Validates an in-memory attribute record by the same rules the decoders apply (for codecs of
 * other formats, and for events built by hand). Throws the first CodecError found.
 */
export function validateAttributes(
  attributes: Record<string, unknown>,
  path = '',
): asserts attributes is Record<string, AttributeValue> {
  checkSpecVersion(attributes.specversion, path);
  for (const name of Object.keys(attributes)) {
    const value = attributes[name];
    if (value !== undefined) checkAttribute(name, value, path);
  }
  checkRequiredAttributes(attributes, path);
}
