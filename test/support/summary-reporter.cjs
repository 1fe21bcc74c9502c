'use strict';
// mocha's spec output, then the plain line CI reads: "N passed, N failed".
// Pending (skipped) tests count as failed, so a skip is never silent.
const Mocha = require('mocha');

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats ?? {};
      // A skipped test counts as failed: the rules allow no skips, and CI reads only this line.
      if (pending > 0) process.stdout.write(`\n${pending} skipped, counted as failed`);
      process.stdout.write(`\n${passes} passed, ${failures + pending} failed\n`);
    });
  }
}

module.exports = SummaryReporter;
