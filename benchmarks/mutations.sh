#!/usr/bin/env bash
# The suite's power to fail: break the code in one place at a time (the FAKE index, the verdict
# rule, the MJPG round trip, the UNCERTAIN band, the second opinion's crop margin, the SSRF
# check); for each, the named files' default selection (-m "not slow", -x) must have a failure.
# Usage: bash benchmarks/mutations.sh CHECKOUT   (a clean checkout: it is reset after each break;
# e.g. `git worktree add --detach ../mut HEAD`, with tests/.reference copied in)
cd "$1" || exit 1
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "$1 has uncommitted changes; use a clean checkout" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1
run() {  # name, file, old, new, tests...
  local name=$1 file=$2 old=$3 new=$4; shift 4
  python - "$file" "$old" "$new" <<'PY'
import sys
p, old, new = sys.argv[1:]
s = open(p).read()
assert s.count(old) == 1, (p, old)
open(p, "w").write(s.replace(old, new))
PY
  local start=$(date +%s)
  out=$(timeout 900 python -m pytest -x -q -p no:cacheprovider -m "not slow" "$@" 2>&1 | tail -4)
  echo "== $name ($(( $(date +%s)-start )) s): $(echo "$out" | grep -E "passed|failed|error" | tail -1)"
  echo "$out" | grep -E "^FAILED|^ERROR" | head -2
  git checkout -q -- .
}
run "FAKE index" inference/weights/config.py 'return self.labels.index("FAKE")' 'return 1 - self.labels.index("FAKE")' tests/test_network.py tests/test_result.py tests/test_pipeline.py
run "verdict rule (mean -> median)" inference/verdict.py '    fake = float(np.mean(scores))
    counts' '    fake = float(np.median(scores))
    counts' tests/test_result.py tests/test_pipeline.py
run "MJPG round trip skipped" inference/faces/crops.py '    side = crops_bgr[0].shape[1], crops_bgr[0].shape[0]
    with' '    return list(crops_bgr)
    side = crops_bgr[0].shape[1], crops_bgr[0].shape[0]
    with' tests/test_profiles.py tests/test_pipeline.py
run "UNCERTAIN band halved" inference/verdict.py 'if abs(fake - THRESHOLD) < uncertain_margin - 1e-9:' 'if abs(fake - THRESHOLD) < uncertain_margin / 2 - 1e-9:' tests/test_result.py tests/test_pipeline.py
run "second opinion crop margin 0.2 -> 0.25" inference/faces/icpr_crops.py 'MARGIN = 0.2' 'MARGIN = 0.25' tests/test_second_opinion.py tests/test_icpr_reference.py
run "SSRF address check off" inference/links/guard.py '    if allow_private:
        return None' '    if True:
        return None' tests/test_links.py
