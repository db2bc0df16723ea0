// chain_verify_extrinsic.mjs: polkadot-js's reading of an extrinsic that
// `karpa chain extrinsic` signed (tests/test_chain_cli.c). Decodes it
// against the runtime metadata, rebuilds the signing payload on its own
// from the chain state the test gave both sides, and verifies the
// signature (sr25519 or ed25519) against the signer it names. Prints one
// JSON object on its last line.
//   KARPA_NPM_DIR=DIR node tests/chain_verify_extrinsic.mjs STATE.json 0xEXTRINSIC
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const req = createRequire(path.join(process.env.KARPA_NPM_DIR, 'package.json'));
const { TypeRegistry, Metadata } = req('@polkadot/types');
const { cryptoWaitReady, signatureVerify, blake2AsU8a } = req('@polkadot/util-crypto');
console.warn = () => {};

await cryptoWaitReady();
const state = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const registry = new TypeRegistry();
const metadata = new Metadata(registry, fs.readFileSync(state.metadata));
registry.setMetadata(metadata);
const ext = registry.createType('Extrinsic', process.argv[3]);
const payload = registry.createType('ExtrinsicPayload', {
	method: ext.method.toHex(), era: ext.era, nonce: ext.nonce, tip: ext.tip,
	specVersion: state.spec_version, transactionVersion: state.transaction_version,
	genesisHash: state.genesis_hash, blockHash: state.block_hash, mode: 0,
}, { version: 4 });
let msg = payload.toU8a({ method: true });
if (msg.length > 256)
	msg = blake2AsU8a(msg);
const ms = ext.inner.signature.multiSignature;
const v = signatureVerify(msg, ms.value, ext.signer.toString());
process.stdout.write('\n' + JSON.stringify({
	section: ext.method.section, method: ext.method.method, args: ext.method.args.map((a) => a.toJSON()),
	signer: ext.signer.toString(), scheme: ms.type, nonce: ext.nonce.toNumber(), valid: v.isValid,
}) + '\n');
