import { strict as assert } from 'node:assert';
import {
  CredentialKind,
  MissingCredentials,
  isJwtShaped,
  readCredentials,
  readHttpCredentials,
} from '../../broker/auth/credentials.js';

const JWT_HEADER = Buffer.from('{"alg":"RS256","typ":"JWT"}').toString('base64url');
const JWT = `${JWT_HEADER}.eyJzdWIiOiJ4In0.c2ln`;

/** Reads like gRPC metadata: lower-case keys, the first value of each. */
function fromMetadata(entries: Record<string, string[]>) {
  return readCredentials((name) => entries[name]?.[0]);
}

describe('broker auth: reading credentials', () => {
  it('routes bearer tokens shaped like JWTs to JWT auth, anything else to API keys', () => {
    assert.deepEqual(readHttpCredentials({ authorization: `Bearer ${JWT}` }), {
      kind: CredentialKind.Jwt,
      token: JWT,
    });
    for (const key of ['plain-key', 'a.b.c', 'abc.def.ghi', `${JWT}.extra`, 'x.y']) {
      assert.deepEqual(
        readHttpCredentials({ authorization: `bearer ${key}` }),
        { kind: CredentialKind.ApiKey, apiKey: key },
        key,
      );
    }
    assert.deepEqual(readHttpCredentials({ 'x-api-key': ` ${JWT} ` }), {
      kind: CredentialKind.ApiKey,
      apiKey: JWT,
    });
  });

  it('knows a JWT by three base64url segments and a JSON header with alg', () => {
    assert.equal(isJwtShaped(JWT), true);
    assert.equal(isJwtShaped(`${JWT_HEADER}.e30.`), true, 'an empty signature (alg none)');
    assert.equal(isJwtShaped(`${Buffer.from('{"typ":"JWT"}').toString('base64url')}.e30.x`), false);
    assert.equal(isJwtShaped(`${Buffer.from('[1]').toString('base64url')}.e30.x`), false);
    assert.equal(isJwtShaped(`${JWT_HEADER}.e30`), false);
    assert.equal(isJwtShaped(`${JWT_HEADER}.e+0.x`), false);
  });

  it('reads a signed request: signature, webhook id and timestamp, and Herald-Producer', () => {
    assert.deepEqual(
      fromMetadata({
        'webhook-signature': ['v1,abc'],
        'webhook-id': ['msg_1'],
        'webhook-timestamp': ['1700000000'],
        'herald-producer': ['shop/acme'],
      }),
      {
        kind: CredentialKind.Hmac,
        producer: 'shop/acme',
        webhookId: 'msg_1',
        timestamp: '1700000000',
        signature: 'v1,abc',
      },
    );
    assert.deepEqual(fromMetadata({ 'webhook-signature': ['v1,abc'] }), {
      kind: CredentialKind.Hmac,
      producer: undefined,
      webhookId: undefined,
      timestamp: undefined,
      signature: 'v1,abc',
    });
  });

  it('says why there are no usable credentials', () => {
    const missing = (entries: Record<string, string[]>) => {
      const c = fromMetadata(entries);
      return c.kind === CredentialKind.None ? c.missing : c.kind;
    };
    assert.equal(missing({}), MissingCredentials.Absent);
    assert.equal(missing({ authorization: ['Bearer'] }), MissingCredentials.Absent);
    assert.equal(missing({ 'x-api-key': ['  '] }), MissingCredentials.Absent);
    assert.equal(missing({ authorization: ['Basic eDp5'] }), MissingCredentials.UnsupportedScheme);
    assert.equal(
      missing({ authorization: ['Bearer k'], 'x-api-key': ['k'] }),
      MissingCredentials.Conflicting,
    );
    assert.equal(
      missing({ authorization: [`Bearer ${JWT}`], 'webhook-signature': ['v1,x'] }),
      MissingCredentials.Conflicting,
    );
    assert.equal(
      missing({ 'x-api-key': ['k'], 'webhook-signature': ['v1,x'] }),
      MissingCredentials.Conflicting,
    );
    assert.equal(missing({ authorization: ['Basic eDp5'], 'x-api-key': ['k'] }), 'api-key');
  });
});
