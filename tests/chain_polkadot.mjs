// chain_polkadot.mjs: the reference side of tests/test_chain_extrinsic.c.
// Builds the same calls and signed extrinsics as src/chain/extrinsic.c
// with polkadot-js (@polkadot/types, @polkadot/keyring; pinned and cached
// by scripts/setup.sh) and prints, per case, the call bytes, the signing
// payload and the full extrinsic in hex, as one JSON array on stdout.
//   KARPA_NPM_DIR=~/.cache/karpa/npm node tests/chain_polkadot.mjs CASES.json
// CASES.json: { "metadata": PATH, "cases": [ { "seed", "call", "args",
//   "spec", "txv", "genesis", "block", "block_hash", "period", "nonce", "tip" } ] }
// "call" is set_weights, commit_weights or reveal_weights; "args" its
// arguments by name, in any order (polkadot-js orders them by metadata).
// A case with "commit": { netuid, uids, values, salt, version_key } also
// gets "commit_hash": BlakeTwo256 of (signer's account, those fields).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const npmDir = process.env.KARPA_NPM_DIR;
if (!npmDir) {
	console.error('chain_polkadot: KARPA_NPM_DIR is not set');
	process.exit(2);
}
const req = createRequire(path.join(npmDir, 'package.json'));
const { TypeRegistry, Metadata, expandMetadata } = req('@polkadot/types');
const { Keyring } = req('@polkadot/keyring');
const { cryptoWaitReady, blake2AsHex } = req('@polkadot/util-crypto');
const { u8aToHex, hexToU8a } = req('@polkadot/util');

// polkadot-js warns about subtensor's own extensions on the console; the
// C side refuses those only when they carry data, which the test covers.
console.warn = () => {};
console.log = ((log) => (...a) => (typeof a[0] === 'string' && a[0].includes('REGISTRY') ? null : log(...a)))(console.log);

await cryptoWaitReady();
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const registry = new TypeRegistry();
const metadata = new Metadata(registry, fs.readFileSync(input.metadata));
registry.setMetadata(metadata);
const tx = expandMetadata(registry, metadata).tx.subtensorModule;
const camel = { set_weights: 'setWeights', commit_weights: 'commitWeights', reveal_weights: 'revealWeights' };

const out = [];
for (const c of input.cases) {
	const fn = tx[camel[c.call]];
	const names = fn.meta.args.map((a) => a.name.toString());
	// polkadot-js names arguments in camelCase (version_key -> versionKey)
	const snake = (n) => n.replace(/[A-Z]/g, (m) => '_' + m.toLowerCase());
	const call = fn(...names.map((n) => {
		if (!(snake(n) in c.args))
			throw new Error(`case lacks argument ${snake(n)} of ${c.call}`);
		return c.args[snake(n)];
	}));
	const pair = new Keyring({ type: 'ed25519' }).addFromSeed(hexToU8a(c.seed));
	const era = c.period
		? registry.createType('ExtrinsicEra', { current: c.block, period: c.period })
		: registry.createType('ExtrinsicEra', '0x00');
	const opts = {
		blockHash: c.period ? c.block_hash : c.genesis,
		era,
		genesisHash: c.genesis,
		nonce: c.nonce,
		tip: c.tip,
		runtimeVersion: { specVersion: c.spec, transactionVersion: c.txv },
		signedExtensions: registry.signedExtensions,
		mode: 0,
		version: 4,
	};
	const payload = registry.createType('ExtrinsicPayload', { ...opts, method: call.toHex(),
		specVersion: c.spec, transactionVersion: c.txv }, { version: 4 });
	const ext = registry.createType('Extrinsic', call, { version: 4 });
	ext.sign(pair, opts);
	let commitHash;
	if (c.commit) {
		const k = c.commit;
		const tuple = registry.createType('(AccountId32, u16, Vec<u16>, Vec<u16>, Vec<u16>, u64)',
			[pair.publicKey, k.netuid, k.uids, k.values, k.salt, k.version_key]);
		commitHash = blake2AsHex(tuple.toU8a(), 256);
	}
	out.push({
		commit_hash: commitHash,
		pub: u8aToHex(pair.publicKey),
		call: call.toHex(),
		payload: u8aToHex(payload.toU8a({ method: true })),
		extrinsic: ext.toHex(),
	});
}
process.stdout.write(JSON.stringify(out) + '\n');
