// Test-time augmentation (airbench94's infer, levels 0-2): the views of a normalised batch, made
// in one launch, and the weighted combination of the model's logits on them.
//   level 0: f(x)
//   level 1: mirror(x) = 0.5 f(x) + 0.5 f(flip(x))
//   level 2: 0.5 mirror(x) + 0.5 * mean(mirror(t(-1,-1) x), mirror(t(+1,+1) x)), where t(d, d) x is
//            the 32x32 window [1+d : 1+d+h, 1+d : 1+d+w] of x reflect-padded by 1 (PyTorch's
//            F.pad 'reflect': the edge is not repeated); flip mirrors the last axis.
#pragma once

#include "runtime/stream.h"

namespace gq::kernels {

// Views per level: 1, 2, 6.
int tta_view_count(int level);

// views[v][i][ch][y][x] for v < tta_view_count(level), in this order:
//   x, flip(x), t(-1,-1) x, flip(t(-1,-1) x), t(+1,+1) x, flip(t(+1,+1) x).
// x: [n][c][h][w] floats (h, w >= 2); views must not alias x.
void tta_make_views(const float* x, int n, int c, int h, int w, int level, float* views,
                    stream_t stream = nullptr);

// out[i][k] from view_logits[v][i][k] (v < tta_view_count(level)), evaluated as the formula
// above is written (in float: mirror = 0.5 a + 0.5 b, mean = (m1 + m2) * 0.5, ...).
void tta_combine(const float* view_logits, int n, int classes, int level, float* out,
                 stream_t stream = nullptr);

}  // namespace gq::kernels
