#!/usr/bin/env bash
# tools/plot.py: a plain run and a Grad Queue run with evaluations inside an epoch become one PNG
# of the expected size (2 x 2 panels, or 2 x 3 with Grad Queue's); a single evaluation is drawn; a
# line that is not JSON is named with its file and line; a missing file is named. --confusion
# draws gq-eval --json's matrix (its size grows with the classes) and names what a bad file lacks.
set -u
here=$(cd "$(dirname "$0")" && pwd)
plot="$here/../../tools/plot.py"
source "$here/expect.sh"

cat >"$tmp/plain.jsonl" <<'JSONL'
{"commit":"abc","elapsed_s":0.0,"settings":{"model":"mlp"},"step":0,"time":1700000000.0,"type":"run","version":"0.1.0"}
{"epoch":1,"images_per_s":100,"loss":2.3,"lr":0.1,"step":10,"type":"train"}
{"epoch":1,"step":10,"test_accuracy":0.31,"test_loss":1.9,"type":"eval"}
JSONL
cat >"$tmp/gq.jsonl" <<'JSONL'
{"epoch":1,"gradqueue":{"qlen":4,"queue_count":3,"mean_delta":0.7,"frac_delta_gt1":0.1,"cos_gstar_gbar":0.95},"loss":2.2,"lr":0.1,"step":10,"type":"train"}
{"epoch":1,"step":10,"test_accuracy":0.3,"val_accuracy":0.32,"test_loss":2.0,"val_loss":1.9,"type":"eval"}
{"epoch":1,"gradqueue":{"qlen":5,"queue_count":4,"mean_delta":0.8,"frac_delta_gt1":0.2,"cos_gstar_gbar":0.9},"loss":1.8,"lr":0.05,"step":20,"type":"train"}
{"epoch":1,"step":20,"test_accuracy":0.4,"test_accuracy_tta":0.42,"test_loss":1.7,"type":"eval"}
JSONL
printf '{"step":1,"type":"train","loss":1}\nnot json\n' >"$tmp/bad.jsonl"

png_size() {  # width x height from the PNG's IHDR chunk
  /usr/bin/python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"
}
expect plain 0 "wrote $tmp/plain.png" -- /usr/bin/python3 "$plot" "$tmp/plain.jsonl"
[ "$(png_size "$tmp/plain.png")" = "1100x800" ] && pass || fail "plain: $(png_size "$tmp/plain.png")"
expect gradqueue 0 "wrote $tmp/both.png" -- /usr/bin/python3 "$plot" "$tmp/plain.jsonl" "$tmp/gq.jsonl" -o "$tmp/both.png"
[ "$(png_size "$tmp/both.png")" = "1600x800" ] && pass || fail "gradqueue: $(png_size "$tmp/both.png")"
expect not-json 1 "bad.jsonl:2: not JSON" -- /usr/bin/python3 "$plot" "$tmp/bad.jsonl"
expect missing 1 "cannot read $tmp/none.jsonl" -- /usr/bin/python3 "$plot" "$tmp/none.jsonl"

printf '{"accuracy":0.7,"classes":["cat","dog","ship"],"confusion":[[30,5,5],[10,25,5],[3,2,15]],"n":100}' >"$tmp/eval.json"
python3 -c 'import json; n = 20; print(json.dumps({"classes": [str(i) for i in range(n)], "confusion": [[i * j for j in range(n)] for i in range(n)]}))' >"$tmp/eval20.json"
printf '{"classes":["a","b"],"confusion":[[1,2],[3]]}' >"$tmp/ragged.json"
expect confusion 0 "wrote $tmp/eval.png" -- /usr/bin/python3 "$plot" --confusion "$tmp/eval.json"
[ "$(png_size "$tmp/eval.png")" = "600x600" ] && pass || fail "confusion: $(png_size "$tmp/eval.png")"
expect confusion-20 0 "wrote $tmp/cm20.png" -- /usr/bin/python3 "$plot" --confusion "$tmp/eval20.json" -o "$tmp/cm20.png"
[ "$(png_size "$tmp/cm20.png")" = "1400x1400" ] && pass || fail "confusion-20: $(png_size "$tmp/cm20.png")"
expect confusion-ragged 1 "ragged.json: expected gq-eval --json output" "N rows of N counts" -- \
  /usr/bin/python3 "$plot" --confusion "$tmp/ragged.json"
expect confusion-jsonl 1 "plain.jsonl: not JSON" -- /usr/bin/python3 "$plot" --confusion "$tmp/plain.jsonl"
expect confusion-and-metrics 2 "plot metrics files separately" -- \
  /usr/bin/python3 "$plot" --confusion "$tmp/eval.json" "$tmp/plain.jsonl"
finish
