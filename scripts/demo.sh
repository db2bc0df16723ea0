#!/usr/bin/env bash
# demo.sh: the README's main job. The protocol end to end on one machine, at
# the cpu scale, on the Brown Corpus:
#   data -> validator (recipe-v0.1.0 + noise floor) -> a miner proves a patch
#   -> the validator judges it -> challenge -> confirmation -> king change;
#   plus a cheating attempt that is rejected, the corpus and the lineage.
# Everything lands in runs/demo/ for you to explore afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)" >/dev/null

K=build/karpa
out=runs/demo
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

banner "3. miner: identity, a clone of the king, a patch with a rationale"
$K keygen --out "$out/miner.key" >/dev/null
git clone -q "$out/validator/recipe" "$out/miner-recipe"
# The baseline warms up and then holds its learning rate; the patch raises it.
lr_line=$(grep -n '{ "cpu",' "$out/miner-recipe/config.c" | head -1 | cut -d: -f1)
sed -i "${lr_line}s/\([0-9.]*e-[0-9]*f\) }/\1 * 1.5f }/" "$out/miner-recipe/config.c"
git -C "$out/miner-recipe" diff > "$out/lr.patch"
cat "$out/lr.patch"
printf 'Raise the cpu-scale learning rate by 1.5x: at this token budget the\nbaseline is still improving quickly when training stops, so a larger step\nshould reach a lower loss in the same number of steps.\n' > "$out/rationale.md"

banner "4. miner: prove the patch (build, calibrate, train under the protocol's seed, sign)"
$K prove --recipe "$out/validator/recipe" --king recipe-v0.1.0 --patch "$out/lr.patch" \
	--rationale "$out/rationale.md" --key "$out/miner.key" --data "$out/data" --scale cpu \
	--out "$out/bundle-1" --tar "$out/bundle-1.tar" --threads "$threads" --progress
$K bundle verify "$out/bundle-1.tar"

banner "5. validator: judge the bundle"
$K judge "$out/validator" "$out/bundle-1.tar" --threads "$threads" --progress --json > "$out/verdict-1.json" || true
$K corpus "$out/validator" show "$(field id < "$out/verdict-1.json")" || true
verdict=$(field verdict < "$out/verdict-1.json")
if [ "$verdict" = challenge_pending ]; then
	seed=$(field challenge_seed < "$out/verdict-1.json")
	banner "6. miner: answer the challenge seed $seed"
	$K prove --recipe "$out/validator/recipe" --king recipe-v0.1.0 --patch "$out/lr.patch" \
		--rationale "$out/rationale.md" --key "$out/miner.key" --data "$out/data" --scale cpu \
		--out "$out/bundle-2" --seed "$seed" --threads "$threads" --progress
	$K judge "$out/validator" "$out/bundle-2" --threads "$threads" --progress || true
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
$K corpus "$out/validator" search "learning rate" || true
$K validator status "$out/validator"
git -C "$out/validator/recipe" log --oneline --decorate --tags main | head -5
echo
echo "demo finished in $(( $(date +%s) - start )) s. Explore $out: validator/ (state.db, recipe/),"
echo "bundle-*/ (karpa bundle show $out/bundle-1 draws the loss curve), verdict-1.json."
