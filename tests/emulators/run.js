// Runs one emulator's own command line in this process: node run.js <s3rver|azurite-blob> [args...].
// It exits as soon as stdin closes, so an emulator never outlives the test process that started it
// (even one that crashed), and it needs no signal dance to stop (azurite wants two SIGTERMs).
'use strict';
const path = require('path');

const bins = {
  s3rver: 's3rver/bin/s3rver.js',
  'azurite-blob': 'azurite/dist/src/blob/main.js',
};
const [name, ...args] = process.argv.slice(2);
if (!bins[name]) {
  console.error(`usage: node run.js <${Object.keys(bins).join('|')}> [args...]`);
  process.exit(2);
}
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const bin = path.join(__dirname, 'node_modules', bins[name]);
process.argv = [process.argv[0], bin, ...args];
require(bin);
