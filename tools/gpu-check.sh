#!/usr/bin/env bash
# The GPU check lives in tools/gpu_check.py (see its --help); this name stays for docs and habits.
exec python3 "$(dirname "$0")/gpu_check.py" "$@"
