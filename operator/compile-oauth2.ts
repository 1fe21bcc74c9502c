/**
 * Compiling `sink.auth.oauth2` (docs/delivery.md, Outbound authentication): the client
 * authentication method with its secret or private key, and the extra token-request
 * parameters. The schema already refuses most mistakes; they are checked again here because
 * resources reach the compiler unvalidated in tests and tools, and because some (a parameter
 * name, a key that cannot sign) only show here. Messages name Secrets and keys, never values.
 */
import type { CompiledOAuth2 } from '../core/config/model.js';
import { sealSecret } from '../core/config/seal.js';
import { isHeraldError } from '../core/errors.js';
import {
  readAssertionKey,
  readCertificateThumbprints,
  type AssertionKey,
} from '../core/oauth2-client-assertion.js';
import { OAUTH2_RESERVED_PARAMETERS } from '../core/resources/cel-rules.js';
import { Limits } from '../core/resources/schema-parts.js';
import { Defaults, type OAuth2ClientCredentials } from '../core/resources/types.js';
import {
  ProblemReason,
  readSecret,
  sealRef,
  type Env,
  type ResourceContext,
} from './compile-context.js';

const BASE = 'spec.sink.auth.oauth2';

/** RFC 6749 Appendix A: `param-name = 1*name-char`, `name-char = "-" / "." / "_" / DIGIT / ALPHA`. */
const PARAMETER_NAME = /^[-._A-Za-z0-9]{1,128}$/;

/** Where a reserved parameter's value comes from instead. */
const RESERVED_HINTS: Record<(typeof OAUTH2_RESERVED_PARAMETERS)[number], string> = {
  grant_type: 'it is always client_credentials',
  client_id: 'it comes from clientId',
  client_secret: 'it comes from clientSecretRef',
  scope: 'list scopes under scopes',
  client_assertion: 'set clientAuthentication: privateKeyJwt',
  client_assertion_type: 'set clientAuthentication: privateKeyJwt',
};

export function compileOAuth2(
  env: Env,
  ctx: ResourceContext,
  oauth2: OAuth2ClientCredentials,
): CompiledOAuth2 {
  const method = oauth2.clientAuthentication ?? Defaults.oauth2ClientAuthentication;
  const out: CompiledOAuth2 = {
    tokenUrl: oauth2.tokenUrl,
    clientId: oauth2.clientId,
    clientAuthentication: method,
    scopes: [...(oauth2.scopes ?? [])],
  };
  if (method === 'privateKeyJwt') {
    if (oauth2.clientSecretRef) {
      ctx.fail(
        ProblemReason.InvalidValue,
        'clientSecretRef is not used with clientAuthentication privateKeyJwt: remove it',
        `${BASE}.clientSecretRef`,
      );
    }
    const privateKey = compilePrivateKey(env, ctx, oauth2);
    if (privateKey) out.privateKey = privateKey;
  } else {
    if (oauth2.privateKey) {
      ctx.fail(
        ProblemReason.InvalidValue,
        `privateKey is only used with clientAuthentication privateKeyJwt, not ${method}`,
        `${BASE}.privateKey`,
      );
    }
    if (oauth2.clientSecretRef) {
      out.clientSecret = sealRef(env, ctx, oauth2.clientSecretRef, `${BASE}.clientSecretRef`);
    } else {
      ctx.fail(
        ProblemReason.InvalidValue,
        `clientAuthentication ${method} needs clientSecretRef (the Secret key holding the client secret)`,
        `${BASE}.clientSecretRef`,
      );
    }
  }
  const parameters = compileParameters(ctx, oauth2.parameters);
  if (parameters) out.parameters = parameters;
  return out;
}

function compileParameters(
  ctx: ResourceContext,
  parameters: Record<string, unknown> | undefined,
): Record<string, string> | undefined {
  if (!parameters) return undefined;
  const path = `${BASE}.parameters`;
  const entries = Object.entries(parameters);
  if (entries.length > Limits.oauth2Parameters) {
    ctx.fail(
      ProblemReason.InvalidValue,
      `${entries.length} token-request parameters; at most ${Limits.oauth2Parameters}`,
      path,
    );
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    const reserved = (OAUTH2_RESERVED_PARAMETERS as readonly string[]).includes(name);
    if (reserved) {
      const hint = RESERVED_HINTS[name as keyof typeof RESERVED_HINTS];
      ctx.fail(
        ProblemReason.InvalidValue,
        `parameters must not set "${name}": Herald sets it itself (${hint})`,
        `${path}.${name}`,
      );
    } else if (!PARAMETER_NAME.test(name)) {
      ctx.fail(
        ProblemReason.InvalidValue,
        `"${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)}" is not a parameter name: 1–128 letters, digits, "-", "." and "_" (RFC 6749 Appendix A)`,
        path,
      );
    } else if (typeof value !== 'string' || value.length > Limits.urlLength) {
      ctx.fail(
        ProblemReason.InvalidValue,
        `must be a string of at most ${Limits.urlLength} characters`,
        `${path}.${name}`,
      );
    } else {
      out[name] = value;
    }
  }
  return entries.length > 0 ? out : undefined;
}

/** The private key sealed, checked to sign with its algorithm, and its certificate's thumbprints. */
function compilePrivateKey(
  env: Env,
  ctx: ResourceContext,
  oauth2: OAuth2ClientCredentials,
): CompiledOAuth2['privateKey'] {
  const path = `${BASE}.privateKey`;
  const spec = oauth2.privateKey;
  if (!spec) {
    ctx.fail(
      ProblemReason.InvalidValue,
      'clientAuthentication privateKeyJwt needs privateKey (the Secret key holding a PEM private key)',
      path,
    );
    return undefined;
  }
  const where = (ref: { name: string; key: string }) =>
    `Secret "${ctx.namespace}/${ref.name}" key "${ref.key}"`;
  const pem = readSecret(env, ctx, spec.secretRef, `${path}.secretRef`);
  if (!pem) return undefined;
  let key: AssertionKey;
  try {
    key = readAssertionKey(pem);
  } catch (err) {
    if (!isHeraldError(err)) throw err;
    ctx.fail(
      ProblemReason.InvalidValue,
      `${where(spec.secretRef)}: ${err.message}`,
      `${path}.secretRef`,
    );
    return undefined;
  }
  if (spec.algorithm && spec.algorithm !== key.algorithm) {
    ctx.fail(
      ProblemReason.InvalidValue,
      `algorithm ${spec.algorithm} does not fit the key in ${where(spec.secretRef)}, which signs ${key.algorithm}`,
      `${path}.algorithm`,
    );
    return undefined;
  }
  const out: NonNullable<CompiledOAuth2['privateKey']> = {
    key: sealSecret(env.options.configKey, pem),
    algorithm: key.algorithm,
    ...(spec.keyId !== undefined && { keyId: spec.keyId }),
    ...(spec.assertionAudience !== undefined && { audience: spec.assertionAudience }),
  };
  if (spec.certificateRef) {
    const certPath = `${path}.certificateRef`;
    const certPem = readSecret(env, ctx, spec.certificateRef, certPath);
    if (!certPem) return undefined;
    try {
      const { x5t, x5tS256 } = readCertificateThumbprints(certPem, key.key);
      Object.assign(out, { x5t, x5tS256 });
    } catch (err) {
      if (!isHeraldError(err)) throw err;
      ctx.fail(
        ProblemReason.InvalidValue,
        `${where(spec.certificateRef)}: ${err.message}`,
        certPath,
      );
      return undefined;
    }
  }
  return out;
}
