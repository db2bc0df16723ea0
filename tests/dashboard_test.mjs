// dashboard_test.mjs: drives the validator's dashboard in Debian's headless
// Chromium through puppeteer-core (24.x: the 25.x line needs a newer node
// than Debian's). Run by tests/test_dashboard.c against a running service:
//
//   KARPA_NPM_DIR=~/.cache/karpa/npm node tests/dashboard_test.mjs --url URL
//     --out DIR --karpa KARPA --bundle B.tar --verdicts N --accepted ID
//
// Checks the lineage chart's king markers, the new king's sample beside the
// chart (the text GET /v1/kings/TAG/sample serves), the verdict rows, the detail
// panel and search, then submits the bundle with `karpa submit` and waits
// for its verdict to appear from /v1/events without a reload. Any console
// error, page error, failed request or HTTP error status fails it. Saves
// DIR/dashboard.png (light), DIR/dashboard-dark.png and
// DIR/dashboard-detail.png (the detail panel). Exit 0 when all
// passed, 1 on a failed check, 2 on the watchdog.
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import path from 'node:path';

const WATCHDOG_MS = 150_000;
const STEP_MS = 20_000;    // one page state to appear
const VERDICT_MS = 90_000; // the submitted bundle's verdict to appear

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['url', 'out', 'karpa', 'bundle', 'verdicts', 'accepted'])
	if (!args[k]) { console.error(`dashboard_test: --${k} is required`); process.exit(1); }
const npmDir = process.env.KARPA_NPM_DIR;
if (!npmDir) { console.error('dashboard_test: KARPA_NPM_DIR (the npm cache of scripts/setup.sh) is required'); process.exit(1); }
// The cache holds node_modules outside this tree: resolve from there.
const puppeteer = createRequire(path.join(npmDir, 'package.json'))('puppeteer-core');

const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
const say = (msg) => console.log(`dashboard_test [${secs()} s] ${msg}`);
const problems = [];
let browser = null;
let closing = false;

const watchdog = setTimeout(() => {
	console.error(`dashboard_test: still running after ${WATCHDOG_MS / 1000} s`);
	process.exit(2);
}, WATCHDOG_MS);

function check(ok, msg) {
	if (!ok) throw new Error(msg);
}

function karpaSubmit() {
	return new Promise((resolve, reject) => {
		execFile(args.karpa, ['submit', args.url, args.bundle, '--quiet', '--json'], { timeout: 60_000 }, (err, stdout, stderr) => {
			if (err) return reject(new Error(`karpa submit failed: ${err.message}\n${stdout}${stderr}`));
			const line = stdout.split('\n').find((l) => l.startsWith('{'));
			try { resolve(JSON.parse(line)); } catch (e) { reject(new Error(`karpa submit printed no JSON: ${stdout}`)); }
		});
	});
}

async function main() {
	browser = await puppeteer.launch({
		executablePath: process.env.KARPA_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		// --no-sandbox: CI runs this as root in a container, where Chromium
		// refuses to start its sandbox (no unprivileged user namespaces).
		// The browser only ever loads our own page from loopback.
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
			'--disable-background-networking', '--disable-extensions', '--disable-sync', '--mute-audio',
			'--font-render-hinting=none'],
		userDataDir: path.join(args.out, 'profile'),
		timeout: 60_000,
	});
	const page = await browser.newPage();
	await page.setViewport({ width: 1440, height: 1000, deviceScaleFactor: 1 });
	page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('requestfailed', (r) => {
		if (!closing) problems.push(`request failed: ${r.url()} ${r.failure() ? r.failure().errorText : ''}`);
	});
	page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
	const fail = () => check(problems.length === 0, problems.join('\n'));

	const resp = await page.goto(args.url + '/', { waitUntil: 'domcontentloaded', timeout: STEP_MS });
	check(resp.status() === 200, `GET / answered ${resp.status()}`);
	const csp = resp.headers()['content-security-policy'] || '';
	check(/script-src 'sha256-[A-Za-z0-9+/]+=*'/.test(csp) && !csp.includes('unsafe-inline'), `the page's policy: ${csp}`);
	await page.evaluate(() => { window.__karpaSamePage = true; });
	say('page loaded');

	// The lineage: two kings, a marker and a label each.
	await page.waitForFunction(() => document.querySelectorAll('#lineage-svg .king-marker').length >= 2, { timeout: STEP_MS });
	const chart = await page.evaluate(() => ({
		markers: Array.from(document.querySelectorAll('#lineage-svg .king-marker')).map((c) => c.getAttribute('data-tag')),
		labels: Array.from(document.querySelectorAll('#lineage-svg .king-label')).map((t) => t.textContent),
		path: !!document.querySelector('#lineage-svg path.step'),
	}));
	check(chart.markers.length === 2, `chart markers: ${JSON.stringify(chart.markers)}`);
	check(chart.markers[0] === 'recipe-v0.1.0' && chart.markers[1] === 'recipe-v0.1.1', `marker order: ${chart.markers}`);
	check(chart.labels.join(',') === 'v0.1.0,v0.1.1', `chart labels: ${chart.labels}`);
	check(chart.path, 'the chart has no step line');
	say(`chart: ${chart.markers.join(' -> ')}`);

	// Beside the chart: the new king's sample (made before this test ran),
	// and none for the first king, which has no model.
	await page.waitForFunction(() => {
		const li = document.querySelector('#samples-list li[data-tag="recipe-v0.1.1"]');
		return li && li.dataset.state === 'made';
	}, { timeout: STEP_MS });
	const sample = await page.evaluate(async () => {
		const li = document.querySelector('#samples-list li[data-tag="recipe-v0.1.1"]');
		const api = await (await fetch('/v1/kings/recipe-v0.1.1/sample')).json();
		return {
			prompt: li.querySelector('.sample-prompt').textContent,
			text: li.querySelector('.sample-text').textContent,
			api,
			items: document.querySelectorAll('#samples-list li').length,
			note: document.getElementById('samples-note').textContent,
			beside: (() => {
				const c = document.getElementById('chart').getBoundingClientRect();
				const a = document.getElementById('samples').getBoundingClientRect();
				return a.left >= c.right - 1 && a.top < c.bottom;
			})(),
		};
	});
	check(sample.prompt === sample.api.prompt && sample.text === sample.api.text && sample.text.length > 0,
		`sample shown: ${JSON.stringify(sample)}`);
	check(sample.items === 1, `sample items: ${sample.items} (the first king has no model)`);
	check(sample.note.includes(`${sample.api.tokens.length} tokens`) && sample.note.includes(`seed ${sample.api.seed}`),
		`sample note: ${sample.note}`);
	check(sample.beside, 'the samples are not beside the chart');
	say(`sample of recipe-v0.1.1: ${JSON.stringify(sample.api.prompt + sample.text).slice(0, 80)}`);

	// The king, the verdict rows, the miners.
	const want = Number(args.verdicts);
	await page.waitForFunction((n) => document.querySelectorAll('#verdicts-body tr[data-id]').length >= n, { timeout: STEP_MS }, want);
	const shown = await page.evaluate(() => ({
		king: document.getElementById('king-tag').textContent,
		margin: document.getElementById('king-margin').textContent,
		rows: Array.from(document.querySelectorAll('#verdicts-body tr[data-id]')).map((r) => ({
			id: r.dataset.id, verdict: r.dataset.verdict, code: r.dataset.code, cost: r.cells[5].textContent })),
		miners: document.querySelectorAll('#miners-body tr[data-miner]').length,
	}));
	check(shown.king === 'recipe-v0.1.1', `king shown: ${shown.king}`);
	check(shown.margin.startsWith('\u00b10.0089'), `noise margin shown: ${shown.margin}`);
	check(shown.rows.length === want, `verdict rows: ${shown.rows.length}, want ${want}`);
	check(shown.rows.some((r) => r.id === args.accepted && r.verdict === 'accepted_king'), `no accepted_king row ${args.accepted}`);
	check(shown.rows.some((r) => r.code === 'judge.claim_mismatch'), 'no row with its reason code');
	check(shown.rows.every((r) => /\d s$/.test(r.cost)), `judge cost column: ${shown.rows.map((r) => r.cost)}`);
	check(shown.miners === 4, `miner rows: ${shown.miners}`);
	say(`${shown.rows.length} verdict rows, ${shown.miners} miners`);

	// The detail panel, from a verdict row's link.
	await page.click(`#verdicts-body tr[data-id="${args.accepted}"] a`);
	await page.waitForFunction(() => document.getElementById('detail').open &&
		document.querySelectorAll('#detail-body tbody tr').length === 5, { timeout: STEP_MS });
	const detail = await page.evaluate(() => ({
		hash: location.hash,
		text: document.getElementById('detail-body').textContent,
	}));
	check(detail.hash === '#/corpus/' + args.accepted, `detail hash: ${detail.hash}`);
	check(detail.text.includes('Warmup over the first 10% of steps'), 'the rationale is not in the panel');
	check(detail.text.includes('spot_replay'), 'the checks are not in the panel');
	await page.screenshot({ path: path.join(args.out, 'dashboard-detail.png') });
	await page.keyboard.press('Escape');
	await page.waitForFunction(() => !document.getElementById('detail').open && location.hash === '', { timeout: STEP_MS });
	say('detail panel opened and closed');

	// Search, with a verdict filter.
	await page.type('#search-q', 'cosine');
	await page.click('#search-form button[type=submit]');
	await page.waitForFunction(() => document.querySelectorAll('#search-body tr[data-id]').length >= 1, { timeout: STEP_MS });
	const hits = await page.evaluate(() => Array.from(document.querySelectorAll('#search-body tr[data-id]')).map((r) => r.dataset.id));
	check(hits.includes(args.accepted), `search hits: ${hits}`);
	await page.select('#search-verdict', 'rejected');
	await page.click('#search-form button[type=submit]');
	await page.waitForFunction(() => document.querySelectorAll('#search-body tr[data-id]').length === 0 &&
		!document.getElementById('search-empty').hidden, { timeout: STEP_MS });
	await page.select('#search-verdict', '');
	await page.$eval('#search-q', (el) => { el.value = ''; });
	say(`search: ${hits.length} hit(s) for "cosine", none rejected`);
	fail();

	// Live: the event stream is open, a real bundle goes in, its verdict
	// comes out on this same page.
	await page.waitForFunction(() => document.getElementById('conn').classList.contains('live'), { timeout: STEP_MS });
	const sub = await karpaSubmit();
	check(sub.id && sub.id.startsWith('q-'), `karpa submit: ${JSON.stringify(sub)}`);
	say(`submitted ${sub.id}`);
	await page.waitForFunction((id) => {
		const row = document.querySelector(`#queue-body tr[data-id="${id}"]`);
		return row && row.dataset.state === 'done' &&
			document.querySelector('#verdicts-body tr[data-code="judge.stale"]') &&
			document.querySelector('#activity-list li[data-event="verdict"]');
	}, { timeout: VERDICT_MS, polling: 200 }, sub.id);
	const live = await page.evaluate(() => ({
		same: window.__karpaSamePage === true,
		events: Array.from(document.querySelectorAll('#activity-list li')).map((li) => li.dataset.event),
		rows: document.querySelectorAll('#verdicts-body tr[data-id]').length,
		done: document.getElementById('q-done').textContent,
	}));
	check(live.same, 'the page reloaded');
	check(live.events.includes('received') && live.events.includes('judging'), `events seen: ${live.events}`);
	check(live.rows === want + 1, `verdict rows after the submission: ${live.rows}`);
	check(live.done === '1', `queue done count: ${live.done}`);
	say(`live verdict shown (events: ${[...new Set(live.events)].join(', ')})`);
	fail();

	// Screenshots, light and dark.
	await page.evaluate(() => window.scrollTo(0, 0));
	const light = path.join(args.out, 'dashboard.png');
	await page.screenshot({ path: light, fullPage: true });
	await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
	await new Promise((r) => setTimeout(r, 300));
	const dark = path.join(args.out, 'dashboard-dark.png');
	await page.screenshot({ path: dark, fullPage: true });
	fail();
	say(`screenshots: ${light} ${dark}`);
}

try {
	await main();
	say('ok');
	closing = true;
	await browser.close();
	clearTimeout(watchdog);
	process.exit(0);
} catch (e) {
	console.error(`dashboard_test: FAILED: ${e.message}`);
	if (problems.length) console.error(problems.join('\n'));
	closing = true;
	if (browser) await browser.close().catch(() => {});
	process.exit(1);
}
