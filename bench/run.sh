#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The bench harness: Sluice against the floor and the baselines, side by side,
# in one run, repeated, as ratios. `make bench` builds and calls this.
#
#   bench/run.sh                      every scenario (< 25 min on 2 cores)
#   QUICK=1 bench/run.sh              a ~3 minute subset
#   SCENARIOS=datapath,cni bench/run.sh
#                                     scenarios: datapath policy drop cni footprint
#   K=3 DUR=5 bench/run.sh            repetitions, RR/CRR seconds (also TDUR: iperf3
#                                     seconds; TPUT_REPS: repetitions with iperf3, 3;
#                                     RT=0: no SCHED_FIFO)
#
# Needs root, the build ($BUILD, default build/) and the bench packages
# (mk/deps.sh bench). Results: bench/results/<UTC timestamp>/ (report.md,
# report.json, *.png, raw.tsv, logs/) and bench/results/latest. See
# bench/README.md.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN=$(cd "$TOP" && cd "$BUILD" 2>/dev/null && pwd) || {
	echo "bench: no build in $BUILD (run make BUILD=$BUILD bench)" >&2
	exit 1
}
TOOLS=$BIN/bench
CTL=$BIN/sluicectl

# --- configuration ------------------------------------------------------------

QUICK=${QUICK:-}
[[ $QUICK == 0 ]] && QUICK=
SCENARIOS=${SCENARIOS:-datapath,policy,drop,cni,footprint}
SCENARIOS=${SCENARIOS//,/ }
RT=${RT:-1}
if [[ -n $QUICK ]]; then
	: "${K:=2}" "${DUR:=1}" "${TDUR:=1}"
	TPUT_REPS=${TPUT_REPS:-2}
	DP_SHAPES=${DP_SHAPES:-"same-node"}
	DP_METRICS=${DP_METRICS:-"rr crr throughput-1"}
	POLICY_WAIT=${POLICY_WAIT:-5}
	POLICY_COUNTS=${POLICY_COUNTS:-"0 1000"}
	UPDATE_COUNTS=${UPDATE_COUNTS:-"1000"}
	UPDATES=${UPDATES:-5}
	CNI_N=${CNI_N:-30}
	FP_LEVELS=${FP_LEVELS:-"100"}
	FP_IDLE=${FP_IDLE:-2}
	DROP_FRAMES=${DROP_FRAMES:-2000000}
	PKTCOST_RUNS=${PKTCOST_RUNS:-20000}
	CT_GC_SIZES=${CT_GC_SIZES:-"100000"}
	PKTCOST_ROUNDS=${PKTCOST_ROUNDS:-1}
else
	: "${K:=5}" "${DUR:=2}" "${TDUR:=2}"
	TPUT_REPS=${TPUT_REPS:-3}
	DP_SHAPES=${DP_SHAPES:-"same-node cross-node vpc-host"}
	DP_METRICS=${DP_METRICS:-"rr crr throughput-1 throughput-4"}
	POLICY_COUNTS=${POLICY_COUNTS:-"0 100 1000 10000"}
	UPDATE_COUNTS=${UPDATE_COUNTS:-"1000 10000"}
	UPDATES=${UPDATES:-20}
	CNI_N=${CNI_N:-100}
	FP_LEVELS=${FP_LEVELS:-"100 1000"}
	FP_IDLE=${FP_IDLE:-5}
	DROP_FRAMES=${DROP_FRAMES:-5000000}
	PKTCOST_RUNS=${PKTCOST_RUNS:-100000}
	CT_GC_SIZES=${CT_GC_SIZES:-"100000 1000000"}
	PKTCOST_ROUNDS=${PKTCOST_ROUNDS:-3}
fi
[[ -n ${K:-} && $K -ge 1 ]] || K=5
POLICY_WAIT=${POLICY_WAIT:-10}

for s in $SCENARIOS; do
	case $s in
	datapath | policy | drop | cni | footprint) ;;
	*) echo "bench: unknown scenario '$s' (datapath policy drop cni footprint)" >&2 && exit 2 ;;
	esac
done
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

[[ $(id -u) == 0 ]] || {
	echo "bench: run as root (network namespaces, BPF)" >&2
	exit 1
}
for f in "$TOOLS/sl-rr" "$TOOLS/sl-cnibench" "$TOOLS/sl-dropgen" "$TOOLS/sl-ctgc" "$CTL" "$BIN/sluice" "$BIN/sluiced"; do
	[[ -x $f ]] || {
		echo "bench: $f is missing (make BUILD=$BUILD bench-build)" >&2
		exit 1
	}
done
for c in chrt iperf3 gnuplot iptables-nft iptables-nft-restore ethtool nsenter taskset python3 bpftool; do
	command -v "$c" >/dev/null || {
		echo "bench: $c is missing (mk/deps.sh bench)" >&2
		exit 1
	}
done

# --- the run --------------------------------------------------------------------

RUN_ID=$(od -An -N4 -tx4 /dev/urandom)
RUN_ID=${RUN_ID// /}
RUN_ID=${RUN_ID:0:6}
P=sb$RUN_ID
TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$TOP/bench/results/$TS
STATE=/run/sluice-bench/$RUN_ID
mkdir -p "$OUT/logs" "$OUT/data" "$STATE"
: >"$OUT/raw.tsv"
: >"$OUT/na.tsv"
: >"$OUT/failures.tsv"
touch "$STATE/pids" "$STATE/netns" "$STATE/labs"

source "$TOP/bench/lib/common.sh"
source "$TOP/bench/lib/baselines.sh"
source "$TOP/bench/lib/sluice.sh"
source "$TOP/bench/scenarios/traffic.sh"
source "$TOP/bench/scenarios/drop.sh"
source "$TOP/bench/scenarios/cni.sh"
source "$TOP/bench/scenarios/footprint.sh"

# A failing step ends the run (set -e); say which one.
trap 'log "ERROR: \"$BASH_COMMAND\" failed (run.sh line $LINENO); see $OUT/bench.log and $OUT/logs/"' ERR
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

T_START=$SECONDS
log "bench run $RUN_ID -> $OUT"
log "scenarios: $SCENARIOS; K=$K repetitions; RR/CRR ${DUR}s, iperf3 ${TDUR}s in the first $TPUT_REPS${QUICK:+ (QUICK)}; SCHED_FIFO=$RT"
# The commit the binaries were built from: HEAD now, "+dirty" when the tree
# has uncommitted changes (they are part of the build).
COMMIT=$(git -C "$TOP" rev-parse HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null) ]] && COMMIT+=+dirty
cat >"$OUT/config.json" <<EOF
{"run_id": "$RUN_ID", "commit": "$COMMIT", "scenarios": "$SCENARIOS", "quick": ${QUICK:-0}, "repeats": $K,
 "rr_seconds": $DUR, "iperf_seconds": $TDUR, "throughput_repeats": $TPUT_REPS, "policy_counts": "$POLICY_COUNTS",
 "update_counts": "$UPDATE_COUNTS", "updates": $UPDATES, "cni_pods": $CNI_N,
 "footprint_levels": "$FP_LEVELS", "footprint_idle_seconds": $FP_IDLE, "drop_frames": $DROP_FRAMES,
 "datapath_shapes": "$DP_SHAPES", "datapath_metrics": "$DP_METRICS", "realtime": $RT,
 "build": "$BUILD"}
EOF

phase() {
	log "--- $1 ($((SECONDS - T_START))s elapsed)"
}

if want datapath || want policy; then
	phase "traffic: setup"
	traffic_setup "$(want datapath && echo yes || echo no)" "$(want policy && echo yes || echo no)"
	phase "traffic: $K repetitions"
	traffic_run
	if want policy; then
		phase "policy: update latency and per-packet cost"
		policy_update_run
		pktcost_run
	fi
fi
if want drop; then
	phase "drop"
	drop_setup
	drop_run
	drop_teardown
fi
release_all
SL_LAB=
if want cni; then
	phase "cni"
	cni_setup
	cni_run
	cni_teardown
fi
if want footprint; then
	phase "footprint"
	footprint_setup_and_run
fi
phase "report"
release_all
python3 "$TOP/bench/report.py" "$OUT" || warn "report.py failed"
ln -sfn "$TS" "$TOP/bench/results/latest"
log "done in $((SECONDS - T_START))s: $OUT/report.md"
