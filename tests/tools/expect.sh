# Sourced by the tests/tools scripts: a temporary folder $tmp (removed on exit), pass/fail counts,
# `expect` for one command, `comparable_metrics` and `finish` for the script's exit status.

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

pass() { passed=$((passed + 1)); }
fail() {  # fail WHAT [OUTPUT]
  failed=$((failed + 1))
  echo "FAIL $1"
  [ -n "${2:-}" ] && tail -15 <<<"$2" | sed 's/^/    /'
}
# expect NAME EXIT_CODE PATTERN... -- COMMAND...: the exit code must match and the output hold
# every PATTERN (fixed strings). Every command runs under `timeout`: a hang fails the test (exit
# 124) instead of CI.
expect() {
  local name="$1" want_rc="$2"
  shift 2
  local patterns=()
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
  shift
  local out rc p
  out=$(timeout -k 10 120 "$@" 2>&1)  # -k: a process that ignores SIGTERM is killed too
  rc=$?
  [ "$rc" = "$want_rc" ] || { fail "$name: exit $rc (want $want_rc)" "$out"; return; }
  for p in "${patterns[@]}"; do
    grep -qF -- "$p" <<<"$out" || { fail "$name: output lacks '$p'" "$out"; return; }
  done
  pass
}
# A --metrics file without what depends on the wall clock (run headers, times, images/s): what
# two runs with the same settings must share, however often they were stopped and resumed.
comparable_metrics() {
  grep -v '"type":"run"' "$1" | sed -E 's/"(elapsed_s|images_per_s|time)":[^,}]*,?//g'
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}
