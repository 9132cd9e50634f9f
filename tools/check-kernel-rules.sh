#!/usr/bin/env bash
# The one-source rules of docs/KERNELS.md, checked on the sources: device code that breaks them
# compiles for one device only, or trains non-deterministically. Prints each offending line with
# the rule; exit 1 if any.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
rule() {  # rule DESCRIPTION REGEX FOLDERS...
  local what=$1 regex=$2; shift 2
  local hits
  hits=$(grep -rnE --include='*.cu' --include='*.cuh' --include='*.h' "$regex" "$@" |
         grep -v '^runtime/portable.cuh:' || true)
  if [ -n "$hits" ]; then
    printf '%s\n%s\n' "check-kernel-rules: $what:" "$hits" >&2
    status=1
  fi
}
rule "launch with gq::launch, not <<<>>> (the emulator cannot run it)" '<<<' kernels models runtime/train
rule "dynamic shared memory with GQ_DYN_SHARED, not extern __shared__" 'extern[[:space:]]+__shared__' kernels models
rule "include runtime/portable.cuh, not the CUDA runtime headers" '#include[[:space:]]*[<"]cuda_runtime' kernels models
rule "no __noinline__ (libstdc++ uses the spelling)" '__noinline__' kernels models
rule "no float atomicAdd (its order, and so its rounding, changes run to run)" \
     'atomicAdd\([^,]*,[[:space:]]*[^)]*f\)|atomicAdd\(\s*\(float' kernels
[ "$status" = 0 ] && echo "check-kernel-rules: kernels/ and models/ follow docs/KERNELS.md's rules"
exit "$status"
