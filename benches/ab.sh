#!/bin/bash
# Runs the paired part of bench binaries from two builds alternately, in one window,
# and summarises the ratios per build: the "same benches, same window" comparison of
# docs/PERFORMANCE.md ("Old harness against new").
#
#   benches/ab.sh REPS DIR_A DIR_B BENCH...      e.g.  benches/ab.sh 5 /tmp/old /tmp/new sgd_step wide
#
# DIR_A and DIR_B hold one binary per bench, named after it (copy them from
# target/release/deps/<bench>-<hash> after `cargo bench --no-run`). Each run gets
# `--bench zzz_none`, so criterion runs nothing and only the paired lines print. The
# order of A and B is swapped every repetition. Prints the median ratio over the
# processes with its range, and the median time of each side.
set -eu
reps=$1 a=$2 b=$3
shift 3
log=$(mktemp)
for r in $(seq 1 "$reps"); do
  for bench in "$@"; do
    if [ $((r % 2)) = 1 ]; then order="$a $b"; else order="$b $a"; fi
    for dir in $order; do
      echo "### build=$dir bench=$bench load=$(cut -d' ' -f1 /proc/loadavg)" >>"$log"
      "$dir/$bench" --bench zzz_none 2>&1 | grep -E '^paired' >>"$log" || true
    done
  done
done
python3 - "$log" <<'PY'
import collections, re, statistics, sys
rows, cur, loads = collections.defaultdict(list), None, []
for line in open(sys.argv[1]):
    m = re.match(r"### build=(\S+) bench=(\S+) load=(\S+)", line)
    if m:
        cur = m.groups(); loads.append(float(cur[2])); continue
    m = re.match(r"paired (.*?): .*? ([\d.]+) ns(?:/sample)?, .*? ([\d.]+) ns(?:/sample)?, "
                 r"(?:median ratio|speed-up) ([\d.]+)", line)
    if m and cur:
        rows[(cur[1], m.group(1), cur[0])].append(tuple(float(m.group(i)) for i in (2, 3, 4)))
print(f"load average {min(loads)}-{max(loads)}")
for (bench, name, build), v in sorted(rows.items()):
    r = [x[2] for x in v]
    print(f"{bench:10} {name[:60]:60} {build:24} n={len(v)} ratio {statistics.median(r):.3f} "
          f"[{min(r):.3f}-{max(r):.3f}]  A {statistics.median(x[0] for x in v):.1f}  "
          f"B {statistics.median(x[1] for x in v):.1f}")
PY
rm -f "$log"
