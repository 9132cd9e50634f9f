// CUDA atomics as real CPU atomics: blocks run concurrently on several workers. Sequentially
// consistent (stronger than CUDA's relaxed atomics, which only hides no bug that tests rely on).
// float/double use compare-exchange loops (GCC has no floating fetch_add); with more than one
// worker their summation order varies, as on a GPU.
#pragma once

namespace cuemu::detail {
template <class T>
T atomic_rmw_cas(T* p, T v, T (*f)(T, T)) {
  T old;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  T desired = f(old, v);
  while (!__atomic_compare_exchange(p, &old, &desired, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
    desired = f(old, v);
  return old;
}
}  // namespace cuemu::detail

#define CUEMU_ATOMIC_INT(T)                                                                  \
  inline T atomicAdd(T* p, T v) {                                                            \
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);                                       \
  }                                                                                          \
  inline T atomicExch(T* p, T v) {                                                           \
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);                                      \
  }                                                                                          \
  inline T atomicCAS(T* p, T compare, T v) {                                                 \
    __atomic_compare_exchange_n(p, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);  \
    return compare;                                                                          \
  }                                                                                          \
  inline T atomicMax(T* p, T v) {                                                            \
    return ::cuemu::detail::atomic_rmw_cas<T>(p, v, [](T a, T b) { return a < b ? b : a; }); \
  }                                                                                          \
  inline T atomicMin(T* p, T v) {                                                            \
    return ::cuemu::detail::atomic_rmw_cas<T>(p, v, [](T a, T b) { return b < a ? b : a; }); \
  }                                                                                          \
  inline T atomicAnd(T* p, T v) {                                                            \
    return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST);                                       \
  }                                                                                          \
  inline T atomicOr(T* p, T v) {                                                             \
    return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);                                        \
  }                                                                                          \
  inline T atomicXor(T* p, T v) {                                                            \
    return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST);                                       \
  }

CUEMU_ATOMIC_INT(int)
CUEMU_ATOMIC_INT(unsigned)
CUEMU_ATOMIC_INT(unsigned long long)
#undef CUEMU_ATOMIC_INT

inline long long atomicMax(long long* p, long long v) {
  return ::cuemu::detail::atomic_rmw_cas<long long>(
      p, v, [](long long a, long long b) { return a < b ? b : a; });
}
inline long long atomicMin(long long* p, long long v) {
  return ::cuemu::detail::atomic_rmw_cas<long long>(
      p, v, [](long long a, long long b) { return b < a ? b : a; });
}
inline int atomicSub(int* p, int v) {
  return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST);
}
inline unsigned atomicSub(unsigned* p, unsigned v) {
  return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST);
}
// CUDA's wrapping increment/decrement: ((old >= v) ? 0 : old + 1), ((old == 0 || old > v) ? v : old
// - 1).
inline unsigned atomicInc(unsigned* p, unsigned v) {
  return ::cuemu::detail::atomic_rmw_cas<unsigned>(
      p, v, [](unsigned old, unsigned lim) { return old >= lim ? 0u : old + 1; });
}
inline unsigned atomicDec(unsigned* p, unsigned v) {
  return ::cuemu::detail::atomic_rmw_cas<unsigned>(
      p, v, [](unsigned old, unsigned lim) { return (old == 0 || old > lim) ? lim : old - 1; });
}

inline float atomicAdd(float* p, float v) {
  return ::cuemu::detail::atomic_rmw_cas<float>(p, v, [](float a, float b) { return a + b; });
}
inline double atomicAdd(double* p, double v) {
  return ::cuemu::detail::atomic_rmw_cas<double>(p, v, [](double a, double b) { return a + b; });
}
inline float atomicExch(float* p, float v) {
  float old;
  __atomic_exchange(p, &v, &old, __ATOMIC_SEQ_CST);
  return old;
}

// Orders this thread's memory accesses for other blocks (they may run on other workers).
inline void __threadfence() {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
inline void __threadfence_block() {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
inline void __threadfence_system() {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
