# Shared by the shell tests (sourced): a temporary directory removed on exit, checks that
# count, and the closing "N passed, N failed" line that CI reads.
# usage: . test-lib.sh NAME   (sets $dir)
set -u
test_name=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/longvl-test-$test_name-XXXXXX")
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
ok()   { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# run CMD...: passes when CMD exits 0
run()  { local out; if out=$("$@" 2>&1); then ok "$*"; else fail "$* -> $out"; fi; }
# expect CODE PATTERN CMD...: exit status CODE and PATTERN in stdout+stderr.
expect() {
  local code=$1 pattern=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$code" ] && grep -q -- "$pattern" <<<"$out"; then ok "$* -> $rc, '$pattern'"
  else fail "$* -> $rc (want $code), output: $(head -c 300 <<<"$out")"; fi
}
# the last line of a test script: the summary, and its exit status
summary() {
  echo "$test_name: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
# f32_model HF_DIR OUT MAKE-TINY-ARGS...: a random f32 checkpoint made by make-tiny (with
# the tokenizer in $tok) and converted to OUT.gguf + OUT-mmproj.gguf; each step a check
f32_model() {
  local hf=$1 out=$2; shift 2
  run "$longvl" make-tiny "$hf" --tokenizer "$tok" --dtype f32 "$@"
  run "$longvl" convert "$hf" -o "$out" --outtype f32 --quiet
}
