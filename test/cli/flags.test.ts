import { strict as assert } from 'node:assert';
import {
  formatCommandHelp,
  parseCommandFlags,
  readPort,
  type CommandSpec,
} from '../../cli/flags.js';
import { isHeraldError, ErrorCode } from '../../core/errors.js';

const run: CommandSpec = {
  summary: 'test',
  flags: ['resources', 'http-port', 'nats', 'allow-private-sinks', 'attempts-log', 'json'],
  defaults: { resources: 'examples', 'allow-private-sinks': true },
};

describe('herald flags', () => {
  const cases: {
    name: string;
    argv: string[];
    env: Record<string, string>;
    expect: Record<string, unknown>;
  }[] = [
    {
      name: 'defaults',
      argv: [],
      env: {},
      expect: { resources: 'examples', 'http-port': '8080', 'allow-private-sinks': true },
    },
    {
      name: 'env over default',
      argv: [],
      env: { HERALD_HTTP_PORT: '9000', NATS_URL: 'nats://x:1' },
      expect: { 'http-port': '9000', nats: 'nats://x:1' },
    },
    {
      name: 'flag over env',
      argv: ['--http-port', '7000'],
      env: { HERALD_HTTP_PORT: '9000' },
      expect: { 'http-port': '7000' },
    },
    {
      name: 'boolean env words',
      argv: [],
      env: { HERALD_ALLOW_PRIVATE_SINKS: 'false' },
      expect: { 'allow-private-sinks': false },
    },
    {
      name: '--no-FLAG turning off a flag that is on by default',
      argv: ['--no-allow-private-sinks'],
      env: {},
      expect: { 'allow-private-sinks': false },
    },
    {
      name: '--no-FLAG over the env var',
      argv: ['--no-allow-private-sinks'],
      env: { HERALD_ALLOW_PRIVATE_SINKS: 'true' },
      expect: { 'allow-private-sinks': false },
    },
    {
      name: '--FLAG=false and --FLAG=true',
      argv: ['--allow-private-sinks=false', '--json=true'],
      env: {},
      expect: { 'allow-private-sinks': false, json: true },
    },
    {
      name: 'the last of --FLAG and --no-FLAG',
      argv: ['--no-allow-private-sinks', '--allow-private-sinks', '--json', '--no-json'],
      env: {},
      expect: { 'allow-private-sinks': true, json: false },
    },
    {
      name: 'resources from env',
      argv: [],
      env: { HERALD_RESOURCES: '/srv/r' },
      expect: { resources: '/srv/r' },
    },
  ];
  for (const c of cases) {
    it(`resolves ${c.name}`, () => {
      const values = parseCommandFlags(run, c.argv, c.env);
      for (const [k, v] of Object.entries(c.expect))
        assert.equal(values[k as keyof typeof values], v, k);
    });
  }

  it('refuses unknown flags and bad ports with a usage error', () => {
    assert.throws(
      () => parseCommandFlags(run, ['--nope'], {}),
      (e: unknown) => isHeraldError(e, ErrorCode.Usage),
    );
    assert.throws(() => readPort({ 'http-port': '70000' }, 'http-port'), /must be a port number/);
  });

  it('refuses --no-FLAG of an unknown or value-taking flag, naming it', () => {
    const refusals: [string[], RegExp][] = [
      [['--no-bogus'], /Unknown option '--no-bogus'/],
      [['--no-nats'], /--nats takes a value, so there is no --no-nats$/],
      [['--no-attempts-log'], /turn it off with --attempts-log=false/],
      [['--no-json=yes'], /--no-json does not take a value/],
      [['--json=maybe'], /--json is on or off: give --json or --no-json/],
      // Not taken as `--no-json`: a value must be attached to look like a flag.
      [['--resources', '--no-json'], /'--resources' argument is ambiguous/],
    ];
    for (const [argv, message] of refusals) {
      assert.throws(
        () => parseCommandFlags(run, argv, {}),
        (e: unknown) => isHeraldError(e, ErrorCode.Usage) && message.test(e.message),
        argv.join(' '),
      );
    }
  });

  it('tells in --help how to turn off a flag that is on by default', () => {
    const help = formatCommandHelp('run', run);
    assert.match(help, /--allow-private-sinks .*--no-allow-private-sinks turns it off/);
    assert.doesNotMatch(help, /--no-json/);
  });

  it('documents every flag with its env var and default in --help', () => {
    const help = formatCommandHelp('run', run);
    for (const text of [
      '--resources',
      'HERALD_RESOURCES',
      'default examples',
      '--http-port',
      'HERALD_HTTP_PORT',
      'NATS_URL',
      '--help',
    ]) {
      assert.ok(help.includes(text), `help lacks ${text}:\n${help}`);
    }
  });
});
