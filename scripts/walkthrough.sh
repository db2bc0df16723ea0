#!/usr/bin/env bash
# walkthrough.sh: the protocol step by step on one machine, at
# the cpu scale, on the Brown Corpus:
#   data -> validator (recipe-v0.1.0 + noise floor) -> a miner proves a patch
#   -> the validator judges it -> challenge -> confirmation -> king change;
#   plus a cheating attempt that is rejected, the corpus and the lineage.
# Everything lands in runs/walkthrough/ for you to explore afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)" >/dev/null

K=build/karpa
out=runs/walkthrough
threads=$(nproc)
seeds=${KARPA_DEMO_SEEDS:-3}
py=/usr/bin/python3
field() { "$py" -c "import json,sys; print(json.load(sys.stdin).get('$1',''))"; }
banner() { printf '\n== %s\n' "$*"; }
start=$(date +%s)

rm -rf "$out"
mkdir -p "$out"

banner "1. data: the Brown Corpus -> miner folder (train, val) and validator folder (hidden)"
$K data prepare --scale cpu --out "$out/data" --hidden-out "$out/hidden" --progress >/dev/null
$K data show "$out/data"
$K data verify "$out/hidden"

banner "2. validator: state folder with the canonical recipe (king recipe-v0.1.0)"
$K validator init "$out/validator" --data "$out/data" --hidden "$out/hidden" --scale cpu
echo "noise floor with $seeds seeds (the protocol's default is 10; fewer here to keep the demo short)"
$K noise-floor "$out/validator" --seeds "$seeds" --threads "$threads" --progress
$K validator status "$out/validator"

banner "3. miner: identity and a clone of the king"
$K keygen --out "$out/miner.key" >/dev/null
git clone -q "$out/validator/recipe" "$out/miner-recipe"
cpu_line=$(grep -n '{ "cpu",' "$out/miner-recipe/config.c" | head -1 | cut -d: -f1)

# prove_and_judge NAME KING PATCH RATIONALE [SEED]: the miner proves, the
# validator judges; the verdict lands in $out/verdict-NAME.json.
prove_and_judge() {
	local name=$1 king=$2 patch=$3 why=$4 seed=${5:-1}
	$K prove --recipe "$out/validator/recipe" --king "$king" --patch "$patch" --rationale "$why" \
		--key "$out/miner.key" --data "$out/data" --scale cpu --out "$out/bundle-$name" \
		--tar "$out/bundle-$name.tar" --seed "$seed" --threads "$threads" --progress
	$K bundle verify "$out/bundle-$name.tar"
	$K judge "$out/validator" "$out/bundle-$name.tar" --threads "$threads" --progress --json \
		> "$out/verdict-$name.json" || true
	$K corpus "$out/validator" show "$(field id < "$out/verdict-$name.json")" || true
}

banner "4. an honest idea that does not pay: a 1.5x learning rate"
sed -i "${cpu_line}s/\([0-9.]*e-[0-9]*f\) }/\1 * 1.5f }/" "$out/miner-recipe/config.c"
git -C "$out/miner-recipe" diff > "$out/lr.patch"
git -C "$out/miner-recipe" checkout -q -- .
cat "$out/lr.patch"
printf 'Raise the cpu-scale learning rate by 1.5x: the baseline is still\nimproving quickly when training stops, so a larger step might reach a lower\nloss in the same number of steps.\n' > "$out/lr.md"
prove_and_judge lr recipe-v0.1.0 "$out/lr.patch" "$out/lr.md"

banner "5. an idea that pays: spend more of the budget (1.5x the steps)"
# v0.1.0 declares 420 steps, well inside the 240 units a mock proof has
# (half of cpu's 480: an unverified proof's compute counts double) (PROTOCOL 4.3:
# the recipe declares its own length, the budget is a ceiling). 1.5x leaves
# room on machines whose SGEMM calibrates faster than their training runs
# (twice the steps was refused on one: docs/calibration.md).
sed -i "${cpu_line}s/\(8, \)420, 20, 52,/\1630, 20, 78,/" "$out/miner-recipe/config.c"
git -C "$out/miner-recipe" diff > "$out/steps.patch"
git -C "$out/miner-recipe" checkout -q -- .
cat "$out/steps.patch"
printf 'Train for 630 steps instead of 420. The baseline stops well inside the\ncpu budget with its loss still falling; half as many steps again stay\ninside the budget and should lower the loss decisively.\n' > "$out/steps.md"
prove_and_judge steps recipe-v0.1.0 "$out/steps.patch" "$out/steps.md"
verdict=$(field verdict < "$out/verdict-steps.json")
if [ "$verdict" = challenge_pending ]; then
	seed=$(field challenge_seed < "$out/verdict-steps.json")
	banner "6. miner: answer the challenge seed $seed; validator: confirm and merge"
	prove_and_judge steps-challenge recipe-v0.1.0 "$out/steps.patch" "$out/steps.md" "$seed"
else
	echo "verdict: $verdict (no challenge issued, the king stays)"
fi

banner "7. a cheating attempt: a patch that opens a socket"
git -C "$out/miner-recipe" checkout -q -- .
printf '\n#include <sys/socket.h>\nint exfiltrate(void) { return socket(2, 1, 0); }\n' >> "$out/miner-recipe/adamw.c"
git -C "$out/miner-recipe" diff > "$out/cheat.patch"
echo "Faster optimizer state handling." > "$out/cheat.md"
king=$($K validator status "$out/validator" --json | "$py" -c "import json,sys; print(json.load(sys.stdin)['king']['tag'])")
$K prove --recipe "$out/validator/recipe" --king "$king" --patch "$out/cheat.patch" \
	--rationale "$out/cheat.md" --key "$out/miner.key" --data "$out/data" --scale cpu \
	--out "$out/bundle-cheat" --threads "$threads" >/dev/null 2>&1 || true
if [ -d "$out/bundle-cheat" ]; then
	$K judge "$out/validator" "$out/bundle-cheat" --threads "$threads" || true
fi

banner "8. the corpus and the lineage of kings"
$K corpus "$out/validator" search "budget OR learning" || true
$K validator status "$out/validator"
git -C "$out/validator/recipe" log -n 5 --oneline --decorate --tags main
echo
echo "walkthrough finished in $(( $(date +%s) - start )) s. Explore $out: validator/ (state.db, recipe/),"
echo "bundle-*/ (karpa bundle show $out/bundle-steps draws the loss curve), verdict-*.json."
