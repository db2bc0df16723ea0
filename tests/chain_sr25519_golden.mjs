// chain_sr25519_golden.mjs: the other side of tests/test_chain_sr25519.c.
// Reads the cases the C side wrote (seed, message, randomness, and the C
// side's public key, SS58 address and signatures) and answers, from
// polkadot-js (@polkadot/util-crypto, @polkadot/keyring) and @scure/sr25519
// as pinned by scripts/setup.sh: their public keys and addresses, scure's
// signature with the same randomness, whether polkadot-js verifies ours
// (and refuses them tampered), and a fresh polkadot-js signature for the C
// side to verify.
//   KARPA_NPM_DIR=~/.cache/karpa/npm node tests/chain_sr25519_golden.mjs IN.json OUT.json
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';

const npmDir = process.env.KARPA_NPM_DIR;
if (!npmDir) { console.error('chain_sr25519_golden: KARPA_NPM_DIR (the npm cache of scripts/setup.sh) is required'); process.exit(1); }
const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) { console.error('usage: chain_sr25519_golden.mjs IN.json OUT.json'); process.exit(2); }
const require = createRequire(npmDir + '/node_modules/');
const uc = require('@polkadot/util-crypto');
const { Keyring } = require('@polkadot/keyring');
const { u8aToHex, hexToU8a } = require('@polkadot/util');
const scure = require('@scure/sr25519');

await uc.cryptoWaitReady();
const hex = (u8) => u8aToHex(u8).slice(2);
const bin = (h) => hexToU8a('0x' + h);
const flip = (u8, i) => { const c = u8.slice(); c[i] ^= 1; return c; };
// A tampered R may not decode: polkadot-js then throws rather than answering false.
const vfy = (f, ...a) => { try { return f(...a); } catch { return false; } };

const cases = JSON.parse(readFileSync(inPath, 'utf8'));
const out = [];
for (const c of cases) {
	const seed = bin(c.seed), msg = bin(c.message), pub = bin(c.pub), sig = bin(c.sig);
	const r = {};
	if (c.scheme === 'sr25519') {
		const pair = uc.sr25519PairFromSeed(seed);
		const sk = scure.secretFromSeed(seed);
		r.pub = hex(pair.publicKey);
		r.scure_pub = hex(scure.getPublicKey(sk));
		// 0.2.0 takes the randomness as a function of its length (later versions as bytes).
		r.scure_sig = hex(scure.sign(sk, msg, (n) => { if (n !== 32) throw new Error(`rng(${n})`); return bin(c.random); }));
		r.verifies_ours = uc.sr25519Verify(msg, sig, pub);
		r.scure_verifies_ours = scure.verify(msg, sig, pub);
		r.refuses_tampered = !vfy(uc.sr25519Verify, flip(msg.length ? msg : new Uint8Array(1), 0), sig, pub)
			&& !vfy(uc.sr25519Verify, msg, flip(sig, 5), pub)
			&& !vfy(uc.sr25519Verify, msg, flip(sig, 40), pub)
			&& !vfy(uc.sr25519Verify, msg, sig, uc.sr25519PairFromSeed(flip(seed, 0)).publicKey);
		r.theirs = hex(uc.sr25519Sign(msg, pair));
	} else {
		const pair = uc.ed25519PairFromSeed(seed);
		r.pub = hex(pair.publicKey);
		r.verifies_ours = uc.ed25519Verify(msg, sig, pub);
		r.refuses_tampered = !vfy(uc.ed25519Verify, flip(msg.length ? msg : new Uint8Array(1), 0), sig, pub)
			&& !vfy(uc.ed25519Verify, msg, flip(sig, 5), pub)
			&& !vfy(uc.ed25519Verify, msg, flip(sig, 40), pub);
		r.theirs = hex(uc.ed25519Sign(msg, pair));
	}
	const kp = new Keyring({ type: c.scheme, ss58Format: 42 }).addFromSeed(seed);
	r.keyring_pub = hex(kp.publicKey);
	r.ss58 = kp.address;
	r.decoded = hex(uc.decodeAddress(c.ss58));
	r.sv = uc.signatureVerify(msg, sig, c.ss58);
	r.signature_verify = r.sv.isValid && r.sv.crypto === c.scheme;
	delete r.sv;
	out.push(r);
}
writeFileSync(outPath, JSON.stringify(out));
console.log(`chain_sr25519_golden: ${out.length} cases`);
