// Warp operations: every lane of `mask` writes its 8-byte value into the warp's exchange buffer
// and waits until all of them have arrived; then each lane reads its source lane. Buffers
// alternate per op, so a lane that races ahead to the next op cannot overwrite values that slower
// lanes have not read yet (the next-but-one op needs those lanes to arrive first).
#include <bit>
#include <string>

#include "runtime/cuemu/detail/state.h"

namespace cuemu::detail {
namespace {

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::sync:
      return "__syncwarp";
    case WarpOp::shfl:
      return "__shfl_sync";
    case WarpOp::shfl_up:
      return "__shfl_up_sync";
    case WarpOp::shfl_down:
      return "__shfl_down_sync";
    case WarpOp::shfl_xor:
      return "__shfl_xor_sync";
    case WarpOp::ballot:
      return "__ballot_sync";
    case WarpOp::any:
      return "__any_sync";
    case WarpOp::all:
      return "__all_sync";
  }
  return "warp op";
}

std::string lanes_text(unsigned bits) {
  std::string s;
  for (unsigned l = 0; l < 32; ++l)
    if (bits & (1u << l)) s += (s.empty() ? "" : ",") + std::to_string(l);
  return s;
}

// The lane a shuffle reads (CUDA's width rules), or -1 when the lane keeps its own value.
int source_lane(WarpOp op, unsigned lane, int arg, int width) {
  const int base = static_cast<int>(lane) & ~(width - 1);
  const int in_seg = static_cast<int>(lane) & (width - 1);
  switch (op) {
    case WarpOp::shfl:
      return base + (arg & (width - 1));
    case WarpOp::shfl_up:
      return in_seg - arg < 0 ? -1 : static_cast<int>(lane) - arg;
    case WarpOp::shfl_down:
      return in_seg + arg >= width ? -1 : static_cast<int>(lane) + arg;
    case WarpOp::shfl_xor: {
      // Lanes may read earlier segments, but a read past the end of its own segment returns the
      // lane's own value.
      const int src = static_cast<int>(lane) ^ arg;
      return src >= base + width ? -1 : src;
    }
    default:
      return -1;
  }
}

// Completes the op in progress: freezes its buffer for readers and opens the next generation.
void complete(Warp& w) {
  WarpBuffer& buf = w.buf[w.gen & 1];
  buf.arrived = w.arrived;
  buf.mask = w.mask;
  w.arrived = 0;
  ++w.gen;
}

}  // namespace

unsigned active_mask() {
  const Fiber& f = current_fiber();
  const Warp& w = tl_worker->block.warps[f.warp];
  return w.exists & ~w.exited;
}

std::uint64_t warp_op(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width,
                      const Loc& loc) {
  const char* what = op_name(op);
  if (tl_thread == nullptr) fail_at(loc, std::string(what) + " called outside a kernel");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    fail_at(loc, std::string(what) + ": width " + std::to_string(width) +
                     " is not a power of 2 in [1, 32]");
  Fiber& f = current_fiber();
  Block& b = tl_worker->block;
  Warp& w = b.warps[f.warp];
  const unsigned bit = 1u << f.lane;
  if ((mask & bit) == 0)
    fail_at(loc, std::string(what) + ": lane " + std::to_string(f.lane) +
                     " is not in its own mask " + hex(mask));
  if (w.arrived == 0) {
    const unsigned gone = mask & w.exited;
    if (gone != 0 && b.strict_shuffle)
      fail_at(loc, std::string(what) + ": mask " + hex(mask) + " names lane(s) " +
                       lanes_text(gone) + " of warp " + std::to_string(f.warp) +
                       ", which have exited");
    w.mask = mask;
    w.expected = mask & w.exists & ~w.exited;
    w.site.set(what, loc);
  } else if (w.mask != mask || !w.site.same(what, loc)) {
    fail_at(loc, std::string(what) + " with mask " + hex(mask) + " while lanes " +
                     lanes_text(w.arrived) + " of warp " + std::to_string(f.warp) + " wait in " +
                     w.site.what + " at " + w.site.file + ":" + std::to_string(w.site.line) +
                     " with mask " + hex(w.mask) +
                     " (all lanes of a warp op must use the same mask and call site)");
  }
  const unsigned buf_index = w.gen & 1;
  w.buf[buf_index].slot[f.lane] = value;
  w.arrived |= bit;
  if (w.arrived == w.expected)
    complete(w);
  else
    wait_until_changed(&w.gen, what, loc);

  const WarpBuffer& buf = w.buf[buf_index];
  switch (op) {
    case WarpOp::sync:
      return 0;
    case WarpOp::ballot:
    case WarpOp::any:
    case WarpOp::all: {
      unsigned ballot = 0;
      for (unsigned bits = buf.arrived; bits != 0; bits &= bits - 1) {
        const int l = std::countr_zero(bits);
        if (buf.slot[l] != 0) ballot |= 1u << l;
      }
      if (op == WarpOp::ballot) return ballot;
      if (op == WarpOp::any) return ballot != 0;
      return ballot == buf.arrived;
    }
    default:
      break;
  }
  const int src = source_lane(op, f.lane, arg, width);
  if (src < 0) return buf.slot[f.lane];
  const unsigned src_bit = 1u << src;
  if (buf.arrived & src_bit) return buf.slot[src];
  // The source lane gave no value: undefined on hardware.
  count_poison_read();
  if ((buf.mask & src_bit) && b.strict_shuffle)
    fail_at(loc, std::string(what) + ": lane " + std::to_string(f.lane) + " reads lane " +
                     std::to_string(src) + " of warp " + std::to_string(f.warp) + ", which " +
                     ((w.exists & src_bit) ? "has exited" : "does not exist (partial warp)") +
                     " although mask " + hex(buf.mask) + " names it");
  return ~std::uint64_t{0};
}

void on_warp_lane_exit(Block& b, Fiber& f) {
  Warp& w = b.warps[f.warp];
  const unsigned bit = 1u << f.lane;
  w.exited |= bit;
  if (w.arrived == 0 || (w.expected & bit) == 0) return;
  if (b.strict_shuffle)
    fail_at(w.site, std::string(w.site.what) + ": lane " + std::to_string(f.lane) + " of warp " +
                        std::to_string(f.warp) +
                        " exited without reaching this warp op, although "
                        "mask " +
                        hex(w.mask) + " names it");
  w.expected &= ~bit;
  if (w.arrived == w.expected) complete(w);
}

}  // namespace cuemu::detail
