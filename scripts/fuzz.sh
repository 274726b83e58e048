#!/usr/bin/env bash
# A long fuzz run of the whole pipeline (tests/unit/test_fuzz_pipeline.py): hostile mail,
# seed after seed, for MINUTES minutes (default 30). Prints how many messages were tried
# and stops at the first failure, with hypothesis's shrunk example on the screen.
#   scripts/fuzz.sh [MINUTES] [EXAMPLES_PER_ROUND]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
per_round=${2:-1000}
py=.venv/bin/python; [ -x "$py" ] || py=python3
end=$(( $(date +%s) + minutes * 60 ))
rounds=0
while [ "$(date +%s)" -lt "$end" ]; do
  seed=$RANDOM$RANDOM
  FUZZ_EXAMPLES=$per_round "$py" -m pytest -q -p no:cacheprovider -x \
    --hypothesis-seed="$seed" tests/unit/test_fuzz_pipeline.py -k "pipeline or parse" \
    > /tmp/mailbot-fuzz-last.log 2>&1 || { cat /tmp/mailbot-fuzz-last.log; echo "fuzz: failed at seed $seed"; exit 1; }
  rounds=$((rounds + 1))
  echo "fuzz: round $rounds (seed $seed) passed: $((rounds * per_round * 2)) inputs so far (half of them through the whole pipeline)"
done
echo "fuzz: ${minutes} min, $rounds rounds, $((rounds * per_round * 2)) inputs, no failure"
