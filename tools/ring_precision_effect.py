#!/usr/bin/env python3
"""What --gq-ring-precision bf16 changes (docs/GRADQUEUE.md, "bf16 ring: measured effect").

  ring_precision_effect.py stats CKPT...      an fp32-ring checkpoint's held gradients rounded to
                                              bf16 as a push would: relative change of the ring's
                                              per-parameter mean and std (same gradients, so
                                              rounding alone)
  ring_precision_effect.py diag FP32.jsonl BF16.jsonl
                                              two runs' --metrics: Grad Queue's diagnostics step by
                                              step, the final loss and accuracy

Standard library only (no numpy): a mnist-cnn ring of 32 x 421,642 takes about half a minute.
"""
import json
import math
import struct
import sys
from array import array


def read_checkpoint(path):
    """(header, {name: bytes}) of a gq-train checkpoint (runtime/train/checkpoint.cpp's layout)."""
    b = open(path, "rb").read()
    if b[:8] != b"GQCKPT01":
        sys.exit(f"{path}: not a gradqueue checkpoint")
    (n,) = struct.unpack_from("<Q", b, 8)
    header = json.loads(b[16:16 + n])
    off = 16 + n
    (count,) = struct.unpack_from("<Q", b, off)
    off += 8
    sections = {}
    for _ in range(count):
        (ln,) = struct.unpack_from("<I", b, off)
        name = b[off + 4:off + 4 + ln].decode()
        off += 4 + ln
        (values,) = struct.unpack_from("<Q", b, off)
        off += 8
        sections[name] = b[off:off + 4 * values]
        off += 4 * values
    return header, sections


def round_bf16_bits(x):
    """runtime/bf16.h's to_bf16 on a float's bits, widened back: nearest even, canonical NaN."""
    if (x & 0x7FFFFFFF) > 0x7F800000:
        return 0x7FFF0000
    x = (x + 0x7FFF + ((x >> 16) & 1)) & 0xFFFFFFFF
    return x & 0xFFFF0000


def held_slots(header, sections):
    settings = header.get("settings", {})
    if settings.get("gq-ring-precision", "fp32") != "fp32":
        sys.exit("stats: needs a checkpoint of an fp32 ring (the unrounded gradients)")
    head, count, _, _, qmax = struct.unpack_from("<5i", sections["gq.state"])
    p = len(sections["gq.slots"]) // 4 // qmax
    return [(head - count + i) % qmax for i in range(count)], p


def moments(slots_bits, p, as_bf16):
    """Per-parameter two-pass mean and population std over the held slots, in double."""
    rows = []
    for bits in slots_bits:
        if as_bf16:
            bits = array("I", (round_bf16_bits(x) for x in bits))
        row = array("f")
        row.frombytes(bits.tobytes())
        rows.append(row)
    n = len(rows)
    mean = [math.fsum(r[j] for r in rows) / n for j in range(p)]
    std = [math.sqrt(math.fsum((r[j] - mean[j]) ** 2 for r in rows) / n) for j in range(p)]
    return mean, std


def rel_l2(a, b):
    num = math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(math.fsum(y * y for y in b))
    return num / den if den else 0.0


def quantile(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def stats(paths):
    for path in paths:
        header, sections = read_checkpoint(path)
        held, p = held_slots(header, sections)
        raw = sections["gq.slots"]
        slots = []
        for s in held:
            a = array("I")
            a.frombytes(raw[4 * s * p:4 * (s + 1) * p])
            slots.append(a)
        m32, s32 = moments(slots, p, False)
        m16, s16 = moments(slots, p, True)
        rel_s = [abs(a - b) / b for a, b in zip(s16, s32) if b > 0]
        rel_m = [abs(a - b) / abs(b) for a, b in zip(m16, m32) if b != 0]
        # What the scarcity weights see: deviations (g_c - mean) / std, so the mean's change in
        # units of the std.
        in_std = [abs(a - b) / s for a, b, s in zip(m16, m32, s32) if s > 0]
        print(f"{path}: step {header.get('step')}, {len(held)} held x {p} parameters")
        print(f"  mean: relative L2 difference {rel_l2(m16, m32):.3e}; per parameter median "
              f"{quantile(rel_m, 0.5):.3e}, p99 {quantile(rel_m, 0.99):.3e}")
        print(f"  mean change / std: median {quantile(in_std, 0.5):.3e}, p99 "
              f"{quantile(in_std, 0.99):.3e}, max {max(in_std, default=0):.3e}")
        print(f"  std:  relative L2 difference {rel_l2(s16, s32):.3e}; per parameter median "
              f"{quantile(rel_s, 0.5):.3e}, p99 {quantile(rel_s, 0.99):.3e}")
        print(f"  slots: {len(raw)} bytes as fp32, {2 * (len(raw) // 4)} as bf16")


DIAG = ["qlen", "mean_delta", "frac_delta_gt1", "cos_gstar_gbar", "noise_scale", "norm_gbar"]


def records(path):
    out = {"train": {}, "eval": None}
    for line in open(path):
        r = json.loads(line)
        if r.get("type") == "train" and "gradqueue" in r:
            out["train"][r["step"]] = r
        elif r.get("type") == "eval":
            out["eval"] = r
    return out


def diag(fp32_path, bf16_path):
    a, b = records(fp32_path), records(bf16_path)
    steps = sorted(set(a["train"]) & set(b["train"]))
    print(f"{len(steps)} logged steps in common ({steps[0]}..{steps[-1]})")
    # The runs part once the statistics first differ (after qmin pushes): the first logged step
    # shows the rounding's direct effect, the means over the run its effect on the trajectory.
    print(f"  {'diagnostic':<16} {'fp32 mean':>12} {'bf16 mean':>12} "
          f"{'rel diff at step ' + str(steps[0]):>22}")
    for key in DIAG + ["loss"]:
        def value(r):
            return r[key] if key == "loss" else r["gradqueue"][key]
        va = [value(a["train"][s]) for s in steps]
        vb = [value(b["train"][s]) for s in steps]
        first = abs(va[0] - vb[0]) / abs(va[0]) if va[0] else abs(vb[0])
        print(f"  {key:<16} {sum(va) / len(va):>12.5g} {sum(vb) / len(vb):>12.5g} {first:>22.3e}")
    for name, r in (("fp32", a["eval"]), ("bf16", b["eval"])):
        if r:
            print(f"  final eval {name}: step {r['step']} test loss {r['test_loss']:.4f} "
                  f"accuracy {100 * r['test_accuracy']:.2f}%")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "stats":
        stats(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "diag":
        diag(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
