# SPDX-License-Identifier: Apache-2.0
#
# Library for the bash test suites (selftests/{cni,lab,runtime}/test_*.sh).
#
# A suite defines test_* functions, optionally suite_setup / suite_teardown
# (run once, only when at least one test is selected; it runs without errexit,
# so it must `|| return 1` its steps), and ends with
# `run_tests`. Each test runs in its own subshell with `set -euo pipefail`;
# `defer CMD...` registers cleanup that runs when the test ends, pass or fail,
# in reverse order. Output is TAP for selftests/run.
#
# Environment: SLUICE_TOP (checkout), SLUICE_BUILD (build dir),
# SLUICE_TEST_FILTER (a glob on test names, set by the runner).

SLUICE_TOP=${SLUICE_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SLUICE_BUILD=${SLUICE_BUILD:-$SLUICE_TOP/build}
SLUICECTL=${SLUICECTL:-$SLUICE_BUILD/sluicectl}
SLUICED=${SLUICED:-$SLUICE_BUILD/sluiced}
SLUICE_CNI=${SLUICE_CNI:-$SLUICE_BUILD/sluice}
TOOLS=$SLUICE_BUILD/selftests/tools

# Debian's own python3 (the one CI has): a version manager's shim earlier in
# PATH (pyenv) costs about a second per call, and the suites call it
# hundreds of times.
if [[ -x /usr/bin/python3 ]]; then
	python3() { /usr/bin/python3 "$@"; }
fi

# A prefix unique to this run: short, because interface and namespace names
# are built from it (IFNAMSIZ is 16). Every object a test creates carries it.
RUN_ID=${RUN_ID:-t$(printf '%x' $(( ($$ ^ RANDOM) & 0xfff )))}

_deferred=()
defer() {
	_deferred+=("$(printf '%q ' "$@")")
}
_run_deferred() {
	local i
	for ((i = ${#_deferred[@]} - 1; i >= 0; i--)); do
		eval "${_deferred[i]}" >/dev/null 2>&1 || true
	done
	_deferred=()
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

assert_eq() { # actual expected [what]
	[[ "$1" == "$2" ]] || fail "${3:-value}: '$1' != expected '$2'"
}

assert_ne() {
	[[ "$1" != "$2" ]] || fail "${3:-value}: '$1' must differ from '$2'"
}

assert_contains() { # haystack needle [what]
	[[ "$1" == *"$2"* ]] || fail "${3:-output} does not contain '$2': $1"
}

assert_not_contains() {
	[[ "$1" != *"$2"* ]] || fail "${3:-output} contains '$2': $1"
}

assert_ok() { # cmd...
	local out
	out=$("$@" 2>&1) || fail "command failed: $* -> $out"
}

assert_fails() { # cmd...
	local out
	if out=$("$@" 2>&1); then
		fail "command succeeded but must fail: $* -> $out"
	fi
}

# Waits until "$@" succeeds, up to $WAIT_TIMEOUT seconds (default 10).
wait_for() {
	local deadline=$((SECONDS + ${WAIT_TIMEOUT:-10}))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "timed out waiting for: $*"
		sleep 0.1
	done
}

# wait_for_eq EXPECTED CMD...: until CMD prints EXPECTED. (Not `wait_for
# test "$(cmd)" == x`: that runs cmd once, before waiting.)
wait_for_eq() {
	local want=$1
	shift
	wait_for _prints "$want" "$@"
}
_prints() {
	local want=$1
	shift
	[[ $("$@" 2>/dev/null) == "$want" ]]
}

# jq-free JSON field access through python3 (always on Debian).
json_get() { # json-string python-expression-on-d
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=eval(sys.argv[2]); print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$1" "$2"
}

_selected() {
	local name=$1
	[[ -z ${SLUICE_TEST_FILTER:-} ]] && return 0
	# shellcheck disable=SC2053
	[[ $name == $SLUICE_TEST_FILTER ]]
}

run_tests() {
	local fns=() fn n=0 rc log
	for fn in $(declare -F | awk '{print $3}' | grep '^test_'); do
		_selected "$fn" && fns+=("$fn")
	done
	echo "1..${#fns[@]}"
	((${#fns[@]})) || return 0
	if declare -F suite_setup >/dev/null; then
		log=$(mktemp)
		# In this shell (not a subshell) so the variables it sets stay;
		# errexit is off here, so suite_setup returns non-zero itself.
		if ! suite_setup >"$log" 2>&1; then
			sed 's/^/# /' "$log"
			rm -f "$log"
			for fn in "${fns[@]}"; do
				n=$((n + 1))
				echo "not ok $n - $fn"
				echo "# suite_setup failed"
			done
			declare -F suite_teardown >/dev/null && suite_teardown >/dev/null 2>&1
			return 1
		fi
		rm -f "$log"
	fi
	for fn in "${fns[@]}"; do
		n=$((n + 1))
		log=$(mktemp)
		(
			set -euo pipefail
			trap _run_deferred EXIT
			"$fn"
		) >"$log" 2>&1
		rc=$?
		if ((rc == 0)); then
			echo "ok $n - $fn"
		else
			echo "not ok $n - $fn"
			tail -n 30 "$log" | sed 's/^/# /'
		fi
		rm -f "$log"
	done
	declare -F suite_teardown >/dev/null && suite_teardown >/dev/null 2>&1
	return 0
}
