#include "runtime/comm.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/memory.h"

#if GQ_WITH_MPI
#include <mpi.h>
#if GQ_WITH_CUDA
#include <cuda_runtime.h>
#include <nccl.h>
#else
#include "runtime/emulated_streams.h"
#endif
#endif

namespace gq {

bool built_with_mpi() {
  return GQ_WITH_MPI != 0;
}

namespace {

// Rank r's chunk of n floats split over R ranks: [begin, end).
struct Chunk {
  std::size_t begin, end;
  std::size_t size() const { return end - begin; }
};
Chunk chunk_of(std::size_t n, int ranks, int r) {
  const std::size_t c = (n + ranks - 1) / ranks;
  return {std::min(n, c * r), std::min(n, c * (r + 1))};
}

}  // namespace

std::uint64_t sum_bytes_sent(std::size_t n, int ranks, int rank) {
  if (ranks <= 1) return 0;
  std::uint64_t floats = 0;
  const Chunk mine = chunk_of(n, ranks, rank);
  for (int j = 0; j < ranks; ++j)
    if (j != rank) floats += chunk_of(n, ranks, j).size() + mine.size();  // all-to-all + gather
  return floats * sizeof(float);
}

#if GQ_WITH_MPI

namespace {

int g_communicators = 0;   // live Communicators; the last one finalises MPI
bool g_initialised_here = false;

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(text, len);
}

int world_rank() {
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

}  // namespace

// Every MPI / NCCL call is checked; the message names the call, file:line and the rank.
#define GQ_MPI_CHECK(call)                                                                      \
  do {                                                                                          \
    const int gq_mpi_rc = (call);                                                               \
    if (gq_mpi_rc != MPI_SUCCESS)                                                               \
      GQ_FAIL("rank {}: {} failed: {}", world_rank(), #call, mpi_error(gq_mpi_rc));             \
  } while (0)
#if GQ_WITH_CUDA
#define GQ_NCCL_CHECK(call)                                                                     \
  do {                                                                                          \
    const ncclResult_t gq_nccl_rc = (call);                                                     \
    if (gq_nccl_rc != ncclSuccess)                                                              \
      GQ_FAIL("rank {}: {} failed: {} ({})", world_rank(), #call, ncclGetErrorString(gq_nccl_rc), \
              ncclGetLastError(nullptr));                                                       \
  } while (0)
#endif

struct Communicator::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Comm liveness = MPI_COMM_NULL;    // pings and their answers only, apart from the collectives
  DeviceBuffer<float> scratch;          // size x chunk: the ranks' chunks, before the sum
  std::vector<int> counts, displs;      // per rank: chunk sizes and offsets (MPI)
  std::vector<int> recv_counts, recv_displs;
#if GQ_WITH_CUDA
  ncclComm_t nccl = nullptr;
#endif
  ~Impl() {
#if GQ_WITH_CUDA
    if (nccl) ncclCommDestroy(nccl);
#endif
    if (liveness != MPI_COMM_NULL) MPI_Comm_free(&liveness);
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
  }

  // Completes `request` (a nonblocking collective on `comm`) within `timeout_s` seconds, answering
  // other ranks' pings meanwhile; past the deadline it fails naming the ranks that do not answer.
  // Polling rather than blocking is what makes the deadline possible (MPI has none of its own).
  void wait(MPI_Request& request, const char* what, int rank, double timeout_s) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    for (;;) {
      int done = 0;
      GQ_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
      if (done) return;
      answer_pings();
      const double waited = std::chrono::duration<double>(clock::now() - start).count();
      if (timeout_s > 0 && waited > timeout_s) {
        const std::vector<int> silent = silent_ranks(rank, std::min(timeout_s, 10.0));
        GQ_FAIL("rank {}: {} has waited {} s for the other ranks (--comm-timeout): {}", rank,
                what, static_cast<long>(waited),
                silent.empty()
                    ? std::string("every rank answers, so one is far slower or waits in another "
                                  "collective")
                    : fmt::format("rank(s) {} do not answer (stopped, hung, dead or busy "
                                  "elsewhere)",
                                  fmt::join(silent, ", ")));
      }
      // Past the first millisecond, poll less often: on a shared machine the ranks still
      // computing need the cores.
      if (waited > 1e-3) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  static constexpr int kPing = 1, kPong = 2;

  void answer_pings() {
    for (;;) {
      int pending = 0;
      MPI_Status status;
      GQ_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, kPing, liveness, &pending, &status));
      if (!pending) return;
      int token = 0;
      GQ_MPI_CHECK(
          MPI_Recv(&token, 1, MPI_INT, status.MPI_SOURCE, kPing, liveness, MPI_STATUS_IGNORE));
      GQ_MPI_CHECK(MPI_Send(&token, 1, MPI_INT, status.MPI_SOURCE, kPong, liveness));
    }
  }

  // Pings every other rank and returns those that have not answered within grace_s seconds. A
  // rank answers while it waits in a collective; one that is stopped or hung does not.
  std::vector<int> silent_ranks(int rank, double grace_s) {
    int size = 0;
    GQ_MPI_CHECK(MPI_Comm_size(liveness, &size));
    std::vector<int> ping(size, 0), pong(size, 0);
    std::vector<MPI_Request> sends(size, MPI_REQUEST_NULL), answers(size, MPI_REQUEST_NULL);
    for (int j = 0; j < size; ++j) {
      if (j == rank) continue;
      GQ_MPI_CHECK(MPI_Isend(&ping[j], 1, MPI_INT, j, kPing, liveness, &sends[j]));
      GQ_MPI_CHECK(MPI_Irecv(&pong[j], 1, MPI_INT, j, kPong, liveness, &answers[j]));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
    std::vector<int> silent;
    while (std::chrono::steady_clock::now() < deadline) {
      answer_pings();
      silent.clear();
      for (int j = 0; j < size; ++j) {
        int done = 1;
        if (answers[j] != MPI_REQUEST_NULL)
          GQ_MPI_CHECK(MPI_Test(&answers[j], &done, MPI_STATUS_IGNORE));
        if (!done) silent.push_back(j);
      }
      if (silent.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return silent;  // the job ends next: requests still open to silent ranks are left to MPI_Abort
  }
};

// Started by an MPI launcher (mpirun / mpiexec, or srun with PMI / PMIx)?
static bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

std::unique_ptr<Communicator> Communicator::world(int* argc, char*** argv) {
  int initialised = 0;
  GQ_MPI_CHECK(MPI_Initialized(&initialised));
  // A plain `gq-train` (no launcher) is one process and does not touch MPI at all.
  if (!initialised && !launched_by_mpi()) return std::unique_ptr<Communicator>(new Communicator);
  if (!initialised) {
    int provided = 0;
    GQ_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    g_initialised_here = true;
  }
  std::unique_ptr<Communicator> c(new Communicator);
  c->impl_ = std::make_unique<Impl>();
  GQ_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &c->impl_->comm));
  GQ_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &c->impl_->liveness));
  ++g_communicators;
  // Errors come back as codes (and are thrown with the rank) instead of ending the process
  // silently; a peer that dies ends the job through mpirun's process monitoring.
  GQ_MPI_CHECK(MPI_Comm_set_errhandler(c->impl_->comm, MPI_ERRORS_RETURN));
  GQ_MPI_CHECK(MPI_Comm_rank(c->impl_->comm, &c->rank_));
  GQ_MPI_CHECK(MPI_Comm_size(c->impl_->comm, &c->size_));
  MPI_Comm local = MPI_COMM_NULL;
  GQ_MPI_CHECK(MPI_Comm_split_type(c->impl_->comm, MPI_COMM_TYPE_SHARED, c->rank_, MPI_INFO_NULL,
                                   &local));
  GQ_MPI_CHECK(MPI_Comm_rank(local, &c->local_rank_));
  GQ_MPI_CHECK(MPI_Comm_free(&local));
#if GQ_WITH_CUDA
  if (c->size_ > 1) {
    const int devices = device_count();
    GQ_CHECK(devices > 0, "rank {}: no CUDA device", c->rank_);
    select_device(c->local_rank_ % devices);
    ncclUniqueId id;
    if (c->rank_ == 0) GQ_NCCL_CHECK(ncclGetUniqueId(&id));
    GQ_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, c->impl_->comm));
    GQ_NCCL_CHECK(ncclCommInitRank(&c->impl_->nccl, c->size_, id, c->rank_));
  }
#endif
  return c;
}

Communicator::~Communicator() {
  if (!impl_) return;  // the one-process communicator of a run without a launcher
  impl_.reset();
  if (--g_communicators == 0 && g_initialised_here) {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
}

void Communicator::reserve(std::size_t max_floats) {
  if (size_ == 1 || max_floats <= reserved_) return;
  const std::size_t chunk = (max_floats + size_ - 1) / size_;
  GQ_CHECK(chunk <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
           "rank {}: {} floats per rank is more than one MPI message can count", rank_, chunk);
  impl_->scratch = DeviceBuffer<float>(chunk * size_);
  impl_->counts.resize(size_);
  impl_->displs.resize(size_);
  impl_->recv_counts.resize(size_);
  impl_->recv_displs.resize(size_);
  reserved_ = max_floats;
}

void Communicator::sum(float* data, std::size_t n, stream_t stream) {
  if (size_ == 1 || n == 0) return;
  GQ_CHECK(n <= reserved_, "rank {}: Communicator::sum of {} floats, {} reserved", rank_, n,
           reserved_);
  Impl& m = *impl_;
  const std::size_t stride = (n + size_ - 1) / size_;
  const Chunk mine = chunk_of(n, size_, rank_);
  float* parts = m.scratch.data();
#if GQ_WITH_CUDA
  // All-to-all: chunk j of this rank to rank j; chunk `rank` of rank j into parts[j].
  copy_on_device(parts + rank_ * stride, data + mine.begin, mine.size() * sizeof(float), stream);
  GQ_NCCL_CHECK(ncclGroupStart());
  for (int j = 0; j < size_; ++j) {
    if (j == rank_) continue;
    const Chunk cj = chunk_of(n, size_, j);
    if (cj.size()) GQ_NCCL_CHECK(ncclSend(data + cj.begin, cj.size(), ncclFloat, j, m.nccl, stream));
    if (mine.size())
      GQ_NCCL_CHECK(ncclRecv(parts + j * stride, mine.size(), ncclFloat, j, m.nccl, stream));
  }
  GQ_NCCL_CHECK(ncclGroupEnd());
  sum_in_rank_order(parts, size_, stride, mine.size(), data + mine.begin, stream);
  // All-gather of the summed chunks, in place.
  GQ_NCCL_CHECK(ncclGroupStart());
  for (int j = 0; j < size_; ++j) {
    if (j == rank_) continue;
    const Chunk cj = chunk_of(n, size_, j);
    if (mine.size())
      GQ_NCCL_CHECK(ncclSend(data + mine.begin, mine.size(), ncclFloat, j, m.nccl, stream));
    if (cj.size()) GQ_NCCL_CHECK(ncclRecv(data + cj.begin, cj.size(), ncclFloat, j, m.nccl, stream));
  }
  GQ_NCCL_CHECK(ncclGroupEnd());
#else
  // MPI reads and writes the emulator's device memory from the host: the stream's work first
  // (NCCL's calls would be ordered on the stream; CUEMU_STREAMS=deferred may still hold it).
  detail::run_pending(stream);
  for (int j = 0; j < size_; ++j) {
    const Chunk cj = chunk_of(n, size_, j);
    m.counts[j] = static_cast<int>(cj.size());
    m.displs[j] = static_cast<int>(cj.begin);
    m.recv_counts[j] = static_cast<int>(mine.size());
    m.recv_displs[j] = static_cast<int>(j * stride);
  }
  MPI_Request request;
  GQ_MPI_CHECK(MPI_Ialltoallv(data, m.counts.data(), m.displs.data(), MPI_FLOAT, parts,
                              m.recv_counts.data(), m.recv_displs.data(), MPI_FLOAT, m.comm,
                              &request));
  m.wait(request, "the sum's all-to-all", rank_, timeout_s_);
  sum_in_rank_order(parts, size_, stride, mine.size(), data + mine.begin, stream);
  detail::run_pending(stream);
  GQ_MPI_CHECK(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, data, m.counts.data(),
                               m.displs.data(), MPI_FLOAT, m.comm, &request));
  m.wait(request, "the sum's all-gather", rank_, timeout_s_);
#endif
  bytes_sent_ += sum_bytes_sent(n, size_, rank_);
}

void Communicator::all_gather(const float* send, float* recv, std::size_t n, stream_t stream) {
  if (size_ == 1) {
    copy_on_device(recv, send, n * sizeof(float), stream);
    return;
  }
#if GQ_WITH_CUDA
  GQ_NCCL_CHECK(ncclAllGather(send, recv, n, ncclFloat, impl_->nccl, stream));
#else
  detail::run_pending(stream);  // MPI reads device memory from the host (as in sum())
  GQ_CHECK(n <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
           "rank {}: all_gather of {} floats is more than one MPI message can count", rank_, n);
  MPI_Request request;
  GQ_MPI_CHECK(MPI_Iallgather(send, static_cast<int>(n), MPI_FLOAT, recv, static_cast<int>(n),
                              MPI_FLOAT, impl_->comm, &request));
  impl_->wait(request, "an all-gather", rank_, timeout_s_);
#endif
  bytes_sent_ += static_cast<std::uint64_t>(n) * sizeof(float) * (size_ - 1);
}

int Communicator::max(int value) {
  if (size_ == 1) return value;
  int out = 0;
  MPI_Request request;
  GQ_MPI_CHECK(MPI_Iallreduce(&value, &out, 1, MPI_INT, MPI_MAX, impl_->comm, &request));
  impl_->wait(request, "an all-reduce (max)", rank_, timeout_s_);
  return out;
}

std::vector<std::uint64_t> Communicator::all_gather(std::uint64_t value) {
  std::vector<std::uint64_t> out(size_, value);
  if (size_ == 1) return out;
  MPI_Request request;
  GQ_MPI_CHECK(MPI_Iallgather(&value, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, impl_->comm,
                              &request));
  impl_->wait(request, "an all-gather of one value per rank", rank_, timeout_s_);
  return out;
}

std::string Communicator::broadcast(const std::string& value, int root) {
  if (size_ == 1) return value;
  unsigned long long len = value.size();
  MPI_Request request;
  GQ_MPI_CHECK(MPI_Ibcast(&len, 1, MPI_UNSIGNED_LONG_LONG, root, impl_->comm, &request));
  impl_->wait(request, "a broadcast", rank_, timeout_s_);
  GQ_CHECK(len < (1ull << 30), "rank {}: broadcast of {} bytes", rank_, len);
  std::string out = rank_ == root ? value : std::string(len, '\0');
  GQ_MPI_CHECK(
      MPI_Ibcast(out.data(), static_cast<int>(len), MPI_CHAR, root, impl_->comm, &request));
  impl_->wait(request, "a broadcast", rank_, timeout_s_);
  return out;
}

void Communicator::barrier() {
  if (size_ == 1) return;
  MPI_Request request;
  GQ_MPI_CHECK(MPI_Ibarrier(impl_->comm, &request));
  impl_->wait(request, "a barrier", rank_, timeout_s_);
}

void Communicator::abort(int code) noexcept {
  std::fflush(stdout);
  std::fflush(stderr);
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; keep [[noreturn]] honest if it does
}

#else  // !GQ_WITH_MPI: one process, nothing to send

struct Communicator::Impl {};

std::unique_ptr<Communicator> Communicator::world(int*, char***) {
  return std::unique_ptr<Communicator>(new Communicator);
}
Communicator::~Communicator() = default;
void Communicator::reserve(std::size_t) {}
void Communicator::sum(float*, std::size_t, stream_t) {}
void Communicator::all_gather(const float* send, float* recv, std::size_t n, stream_t stream) {
  copy_on_device(recv, send, n * sizeof(float), stream);
}
int Communicator::max(int value) {
  return value;
}
std::vector<std::uint64_t> Communicator::all_gather(std::uint64_t value) {
  return {value};
}
std::string Communicator::broadcast(const std::string& value, int) {
  return value;
}
void Communicator::barrier() {}
void Communicator::abort(int code) noexcept {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

#endif

}  // namespace gq
