import { strict as assert } from 'node:assert';
import { parseCommandFlags, readByteSize, type CommandSpec } from '../../cli/flags.js';
import { ErrorCode, isHeraldError } from '../../core/errors.js';

const broker: CommandSpec = { summary: 'test', flags: ['max-body-bytes', 'public-registry'] };

describe('broker limit flags', () => {
  it('reads --max-body-bytes from the flag, else HERALD_MAX_BODY_BYTES, else 1 MiB', () => {
    const read = (argv: string[], env: Record<string, string>): number =>
      readByteSize(parseCommandFlags(broker, argv, env), 'max-body-bytes');
    assert.equal(read([], {}), 1024 * 1024);
    assert.equal(read([], { HERALD_MAX_BODY_BYTES: '512Ki' }), 512 * 1024);
    assert.equal(read(['--max-body-bytes', '4096'], { HERALD_MAX_BODY_BYTES: '2Mi' }), 4096);
    assert.equal(read(['--max-body-bytes', '2Mi'], {}), 2 * 1024 * 1024);
  });

  it('refuses sizes that are not a positive byte count', () => {
    for (const bad of ['0', '-1', '1.5Mi', '1MB', 'lots', '']) {
      assert.throws(
        () => readByteSize({ 'max-body-bytes': bad }, 'max-body-bytes'),
        (err: unknown) => isHeraldError(err) && err.code === ErrorCode.Usage,
        bad,
      );
    }
  });

  it('reads --public-registry and HERALD_PUBLIC_REGISTRY as a boolean', () => {
    assert.equal(parseCommandFlags(broker, [], {})['public-registry'], undefined);
    assert.equal(parseCommandFlags(broker, ['--public-registry'], {})['public-registry'], true);
    const fromEnv = parseCommandFlags(broker, [], { HERALD_PUBLIC_REGISTRY: 'yes' });
    assert.equal(fromEnv['public-registry'], true);
  });
});
