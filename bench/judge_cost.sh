#!/usr/bin/env bash
# judge_cost.sh BUILD_DIR [SCALE]: what a judgment costs against its proof,
# with the full evaluation and with the sequential one (issue 17, section 3).
# Asserts nothing but that the two give the same verdicts; prints figures.
#
# Proves, at SCALE (tiny by default; cpu for the demo's figures), a king
# with a noise floor of 2 seeds (which records the king's hidden losses) and
# four candidates made the way the miner's knob search makes them: a
# comment-only patch (the king itself), the learning rate halved, the
# steps cut to two thirds (both worse), and the learning rate raised by
# 1.5x (the demo's improvement). Each bundle is judged twice on its own
# copy of the state: `karpa judge --full-eval` and `karpa judge`. Prints,
# per candidate, the verdict of each, the judgment's CPU seconds as a
# percentage of the proof's CPU seconds (as the verdict records them: the
# manifest's train_s x threads, which a loaded machine inflates; and, as
# "seq %cpu", of the prove process's own user+sys CPU seconds, which it
# does not), and how many hidden targets the
# sequential judgment scored, and how many public ones (of the whole
# split's), and what its aimed causality probes took (wall seconds as a
# share of the proof's CPU seconds; "-" when the scoring stopped and none
# ran); then the medians for the non-decisive and the
# decisive candidates. A decisive candidate's judgment includes its
# binding replay.
#
# Minutes at the tiny scale, about half an hour at the cpu scale on one
# core. Run it by hand, niced:
#   nice -n 10 bash bench/judge_cost.sh build cpu
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/judge_lib.sh
bench_setup judge-cost "${1:-build}" "${2:-tiny}"

"$K" data prepare --scale "$scale" --out "$out/data" --hidden-out "$out/hidden" >/dev/null
"$K" validator init "$out/state" --data "$out/data" --hidden "$out/hidden" --scale "$scale" >/dev/null
"$K" noise-floor "$out/state" --seeds 2 --threads "$threads" >/dev/null
"$K" keygen --out "$out/miner.key" >/dev/null
git clone -q "$out/state/recipe" "$out/king"

# make_patch NAME: the candidate NAME (judge_lib.sh) as a patch of the king
make_patch() {
	local name=$1
	rm -rf "$out/r-$name"
	cp -a "$out/king" "$out/r-$name"
	bench_knob "$out/r-$name" "$scale" "$name"
	git -C "$out/r-$name" diff >"$out/$name.patch"
	[ -s "$out/$name.patch" ] || { echo "judge_cost: patch $name is empty" >&2; exit 1; }
}
for name in comment lr-half steps-2of3 lr-1.5x; do
	make_patch "$name"
done

jget() { "$py" -c "import json,sys; d=json.load(open(sys.argv[2])); print(eval(sys.argv[1], {}, {'d': d}))" "$1" "$2"; }
rows=()
for name in comment lr-half steps-2of3 lr-1.5x; do
	printf 'Candidate %s for the judge-cost benchmark.\n' "$name" >"$out/$name.md"
	/usr/bin/time -f '%U %S' -o "$out/p-$name.time" \
		"$K" prove --recipe "$out/state/recipe" --king recipe-v0.1.0 --patch "$out/$name.patch" \
		--rationale "$out/$name.md" --key "$out/miner.key" --data "$out/data" --scale "$scale" \
		--out "$out/b-$name" --seed 1 --threads "$threads" --mock-attestation >/dev/null
	for mode in full seq; do
		rm -rf "$out/s-$name-$mode"
		cp -a "$out/state" "$out/s-$name-$mode"
		flag=""
		[ $mode = full ] && flag=--full-eval
		"$K" judge "$out/s-$name-$mode" "$out/b-$name" --threads "$threads" --json $flag \
			>"$out/j-$name-$mode.json"
	done
	rows+=("$name")
done

"$py" - "$out" "${rows[@]}" <<'PY'
import json, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
print(f"{'candidate':<12} {'verdict (full)':<22} {'verdict (seq)':<22} {'full %':>7} {'seq %':>7} {'seq %cpu':>8} {'hidden targets':>16} {'public targets':>16} {'cache':>6} {'aimed':>10} same")
groups = {"non-decisive": ([], []), "decisive": ([], [])}
ok = True
for n in names:
    f = json.load(open(f"{out}/j-{n}-full.json"))
    s = json.load(open(f"{out}/j-{n}-seq.json"))
    pf = 100 * f["judge_cpu_s"] / f["proof_cpu_s"]
    ps = 100 * s["judge_cpu_s"] / s["proof_cpu_s"]
    # the prover's own CPU seconds (training plus its build, checks and final
    # evaluation): unlike train_s x threads, not inflated by a loaded machine
    u, sy = open(f"{out}/p-{n}.time").read().split()[-2:]
    pc = 100 * s["judge_cpu_s"] / (float(u) + float(sy))
    same = (f["verdict"], f["code"]) == (s["verdict"], s["code"])
    ok &= same
    g = "non-decisive" if f["verdict"] in ("not_decisive", "rejected") else "decisive"
    groups[g][0].append(pf)
    groups[g][1].append(ps)
    tgt = f"{s.get('hidden_targets', 0)}/{s.get('hidden_targets_all', 0)}"
    # the public claim: a share (partial) or the whole split, which the
    # full evaluation's count is
    pub = f"{s.get('public_targets', 0)}/{f.get('public_targets', 0)}"
    # the aimed probes of the sequential judgment (none when it stopped):
    # their wall seconds, as a share of the proof's CPU seconds
    aim = f"{100 * s.get('causality_aimed_s', 0) / s['proof_cpu_s']:.2f}%" if s.get('causality_aimed') else "-"
    print(f"{n:<12} {f['verdict'] + ' ' + f['code']:<22.22} {s['verdict'] + ' ' + s['code']:<22.22} {pf:7.2f} {ps:7.2f} {pc:8.2f} {tgt:>16} {pub:>16} {s.get('hidden_cache', ''):>6} {aim:>10} {'yes' if same else 'NO'}")
for g, (pf, ps) in groups.items():
    if pf:
        print(f"median {g}: full {statistics.median(pf):.2f}% -> sequential {statistics.median(ps):.2f}% of the proof's CPU time ({len(pf)} candidates)")
print("verdicts match" if ok else "VERDICTS DIFFER")
sys.exit(0 if ok else 1)
PY
