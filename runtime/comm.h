// Data-parallel communication between the processes of one job (docs/ARCHITECTURE.md,
// "Data-parallel training"). Processes are started and bootstrapped by MPI (mpirun, one process
// per GPU); the gradients' collectives run on NCCL in the GPU build and on MPI itself in the
// emulator build (device memory is host memory there). Every call is checked and fails with
// file:line and the rank.
//
// The sum is deterministic: no float atomics and no library reduction. It is a reduce-scatter
// done as an all-to-all (rank r receives chunk r of every rank), a sum of those chunks in rank
// order 0, 1, ..., R-1 by one kernel, and an all-gather of the summed chunks. Every rank ends
// with the same bits, and a run repeats bit-identically at the same number of ranks. Bytes each
// rank sends: about 2 (R-1)/R n floats, as a ring all-reduce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/stream.h"

namespace gq {

// True when this binary was built with GQ_MPI (MPI, and NCCL in the GPU build).
bool built_with_mpi();

class Communicator {
 public:
  // The job's processes (MPI_COMM_WORLD; MPI is initialised here, once, and finalised when the
  // last Communicator goes). Without GQ_MPI, or a single process: size() == 1 and nothing is
  // ever sent. In the GPU build with size() > 1 it selects device local_rank() % device_count()
  // and creates the NCCL communicator.
  static std::unique_ptr<Communicator> world(int* argc, char*** argv);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes on this machine
  bool distributed() const { return size_ > 1; }

  // Allocates the device scratch sum() needs for up to max_floats floats (once, before the first
  // step: a step allocates nothing).
  void reserve(std::size_t max_floats);
  // data[0..n) <- the sum over ranks of every rank's data[0..n), in place, deterministic (above).
  // n <= the reserved size.
  void sum(float* data, std::size_t n, stream_t stream);
  // recv[r * n .. (r + 1) * n) <- rank r's send[0..n) (device buffers; pure data movement).
  void all_gather(const float* send, float* recv, std::size_t n, stream_t stream);

  // Seconds any one collective may wait for the other ranks before the job ends (0: forever).
  // A rank that is stopped, hung or dead would otherwise leave the others waiting for ever; past
  // the deadline this rank asks every rank for a sign of life and the error names those that do
  // not answer. It covers every collective in the emulator build and, in the GPU build, the host
  // collectives a step makes (the Trainer's stop agreement after every step), since NCCL itself
  // has no deadline.
  void set_timeout(double seconds) { timeout_s_ = seconds; }

  // Host collectives (MPI, blocking up to the timeout).
  int max(int value);
  std::vector<std::uint64_t> all_gather(std::uint64_t value);
  std::string broadcast(const std::string& value, int root);
  void barrier();
  // Ends every process of the job with `code` (MPI_Abort); for an error one rank alone sees.
  [[noreturn]] void abort(int code) noexcept;

  // Bytes this rank has sent in device collectives so far (sum() and all_gather()).
  std::uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  Communicator() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  std::size_t reserved_ = 0;
  double timeout_s_ = 600;
  std::uint64_t bytes_sent_ = 0;
};

// Bytes one rank sends in sum(n) with `ranks` ranks (the all-to-all and the all-gather phases),
// for the cost model and gq-bench.
std::uint64_t sum_bytes_sent(std::size_t n, int ranks, int rank = 0);

// The kernel of sum(): out[i] = ((parts[i] + parts[stride + i]) + ...) + parts[(ranks-1) stride + i].
void sum_in_rank_order(const float* parts, int ranks, std::size_t stride, std::size_t n, float* out,
                       stream_t stream);

}  // namespace gq
