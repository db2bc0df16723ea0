// chain_storage_keys.mjs: storage keys as polkadot-js computes them
// (@polkadot/util-crypto's xxhashAsU8a and blake2AsU8a), the golden side
// of tests/test_chain_rpc.c. Reads a JSON list of cases from argv[2] and
// prints one JSON list of 0x-hex keys:
//   {"kind":"prefix","pallet":P,"item":I}       twox128(P) ++ twox128(I)
//   {"kind":"twox64concat","hex":H}             twox64(H) ++ H
//   {"kind":"blake2_128concat","hex":H}         blake2_128(H) ++ H
//   {"kind":"commit_reveal","netuid":N}
//   {"kind":"uids","netuid":N,"account":H}
//   {"kind":"keys","netuid":N,"uid":U}
//   KARPA_NPM_DIR=~/.cache/karpa/npm node tests/chain_storage_keys.mjs cases.json
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const npmDir = process.env.KARPA_NPM_DIR;
if (!npmDir) { console.error('chain_storage_keys: KARPA_NPM_DIR (the npm cache of scripts/setup.sh) is required'); process.exit(1); }
const req = createRequire(path.join(npmDir, 'package.json'));
const { xxhashAsU8a, blake2AsU8a } = req('@polkadot/util-crypto');
const { u8aConcat, u8aToHex, hexToU8a, stringToU8a } = req('@polkadot/util');

const u16 = (n) => new Uint8Array([n & 0xff, (n >> 8) & 0xff]);
const prefix = (p, i) => u8aConcat(xxhashAsU8a(stringToU8a(p), 128), xxhashAsU8a(stringToU8a(i), 128));
const twox64concat = (b) => u8aConcat(xxhashAsU8a(b, 64), b);
const blake2concat = (b) => u8aConcat(blake2AsU8a(b, 128), b);

const out = JSON.parse(readFileSync(process.argv[2], 'utf8')).map((c) => {
	switch (c.kind) {
	case 'prefix': return prefix(c.pallet, c.item);
	case 'twox64concat': return twox64concat(hexToU8a(c.hex));
	case 'blake2_128concat': return blake2concat(hexToU8a(c.hex));
	case 'commit_reveal': return u8aConcat(prefix('SubtensorModule', 'CommitRevealWeightsEnabled'), u16(c.netuid));
	case 'uids': return u8aConcat(prefix('SubtensorModule', 'Uids'), u16(c.netuid), blake2concat(hexToU8a(c.account)));
	case 'keys': return u8aConcat(prefix('SubtensorModule', 'Keys'), u16(c.netuid), u16(c.uid));
	default: throw new Error(`unknown case ${c.kind}`);
	}
}).map((k) => u8aToHex(k));
console.log(JSON.stringify(out));
