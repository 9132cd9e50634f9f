// CUDA's built-in vector types (uint3, dim3, float4, ...) and make_* helpers, with CUDA's
// alignment, so kernels that do vectorised loads through reinterpret_cast keep their layout.
#pragma once

// Each type is an aggregate like CUDA's, so `float4 v{1, 2, 3, 4}` and `v = {}` work.
#define CUEMU_VEC2(T, name, align)              \
  struct alignas(align) name {                  \
    T x, y;                                     \
  };                                            \
  inline constexpr name make_##name(T x, T y) { \
    return name{x, y};                          \
  }
#define CUEMU_VEC3(T, name)                          \
  struct name {                                      \
    T x, y, z;                                       \
  };                                                 \
  inline constexpr name make_##name(T x, T y, T z) { \
    return name{x, y, z};                            \
  }
#define CUEMU_VEC4(T, name, align)                        \
  struct alignas(align) name {                            \
    T x, y, z, w;                                         \
  };                                                      \
  inline constexpr name make_##name(T x, T y, T z, T w) { \
    return name{x, y, z, w};                              \
  }

CUEMU_VEC2(char, char2, 2)
CUEMU_VEC4(char, char4, 4)
CUEMU_VEC2(unsigned char, uchar2, 2)
CUEMU_VEC4(unsigned char, uchar4, 4)
CUEMU_VEC2(short, short2, 4)
CUEMU_VEC4(short, short4, 8)
CUEMU_VEC2(unsigned short, ushort2, 4)
CUEMU_VEC4(unsigned short, ushort4, 8)
CUEMU_VEC2(int, int2, 8)
CUEMU_VEC3(int, int3)
CUEMU_VEC4(int, int4, 16)
CUEMU_VEC2(unsigned, uint2, 8)
CUEMU_VEC3(unsigned, uint3)
CUEMU_VEC4(unsigned, uint4, 16)
CUEMU_VEC2(float, float2, 8)
CUEMU_VEC3(float, float3)
CUEMU_VEC4(float, float4, 16)
CUEMU_VEC2(double, double2, 16)
CUEMU_VEC3(double, double3)
CUEMU_VEC4(double, double4, 16)
CUEMU_VEC2(long long, longlong2, 16)
CUEMU_VEC4(long long, longlong4, 16)
CUEMU_VEC2(unsigned long long, ulonglong2, 16)
CUEMU_VEC4(unsigned long long, ulonglong4, 16)

#undef CUEMU_VEC2
#undef CUEMU_VEC3
#undef CUEMU_VEC4

// Launch dimensions: unset components are 1, and a uint3 converts implicitly, as in CUDA.
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
