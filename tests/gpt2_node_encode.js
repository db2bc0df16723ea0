// gpt2_node_encode.js: the reference side of tests/test_gpt2_node.c. Loads
// the gpt-3-encoder package from the directory given as the first argument,
// reads a JSON array of strings from the file given as the second, and
// prints one JSON array holding each string's token ids from the package's
// own encode(). Reads and writes nothing else.
'use strict';

const fs = require('fs');
const path = require('path');

if (process.argv.length !== 4) {
	process.stderr.write('usage: node gpt2_node_encode.js <package-dir> <texts.json>\n');
	process.exit(2);
}
const { encode } = require(path.resolve(process.argv[2]));
const texts = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
	process.stderr.write('gpt2_node_encode: input must be a JSON array of strings\n');
	process.exit(2);
}
process.stdout.write(JSON.stringify(texts.map((t) => encode(t))) + '\n');
