#!/usr/bin/env node
// Runs the bundled command line (built by `npm install`).
const { main } = require('../dist/cli.js');

main(process.argv).then((code) => {
  process.exitCode = code;
});
