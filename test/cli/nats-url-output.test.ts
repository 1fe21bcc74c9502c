import assert from 'node:assert/strict';
import { describeNatsUrl } from '../../cli/inspect-args.js';
import { findFreePort, spawnHerald } from '../support/processes.js';

describe('NATS URLs in output', function () {
  this.timeout(60_000);

  it('hides the user, password or token a URL carries, in lists too', () => {
    assert.equal(describeNatsUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
    assert.equal(describeNatsUrl('nats://alice:s3cret@nats:4222'), 'nats://***@nats:4222');
    assert.equal(
      describeNatsUrl('tls://t0ken@a:4222,nats://b:4222,nats://u:p@c'),
      'tls://***@a:4222,nats://b:4222,nats://***@c',
    );
  });

  it('herald status does not print the password of the URL it cannot reach', async () => {
    const port = await findFreePort(); // nothing listens there
    const cli = spawnHerald(['status', '--nats', `nats://alice:s3cret-pw@127.0.0.1:${port}`]);
    const code = await new Promise((resolve) => cli.child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(cli.stderr(), /cannot connect to NATS at nats:\/\/\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(cli.stderr() + cli.stdout(), /s3cret-pw/);
  });
});
