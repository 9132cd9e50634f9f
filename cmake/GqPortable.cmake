# GQ_PORTABLE=ON: a GPU build (GQ_CUDA=ON) whose binaries run on another x86-64 Linux machine
# where nothing of ours is installed: the lent GPU machine that `tools/gpu-check.sh --run` drives
# (`--prepare` builds this here and packs bin/ and lib/ into the bundle). What each binary needs:
#
#   - libstdc++ and libgcc: static (-static-libstdc++ -static-libgcc; gq_portable_compat.cpp
#     keeps them needing glibc 2.35, not 2.36), except in the benchmark binaries, which link
#     libbenchmark.so (Debian ships no libbenchmark.a) and so share its dynamic libstdc++ (one C++
#     runtime per process): the bundle's lib/ carries libbenchmark, and lib/fallback/ this
#     machine's libstdc++.so.6 and libgcc_s.so.1 for a device machine whose own are too old;
#   - fmt: header-only (FMT_HEADER_ONLY; Debian ships no libfmt.a);
#   - libarchive, zlib, liblzma, libbz2, libnettle: static archives (the readers use tar +
#     gzip/xz/bzip2; the tests' writer pulls every write format, and the xar one's libxml2 calls
#     are stubbed out: gq_portable_xml_stubs.cpp);
#   - GoogleTest: static (Debian ships only libgtest.a);
#   - the CUDA runtime: static (cudart_static); cuBLAS, cuBLASLt and cuDNN dynamic, found at run
#     time through LD_LIBRARY_PATH (the toolkit's lib64 or the NVIDIA wheels' lib folders);
#     NVTX is header-only (nvtx3) and loads its injection library itself;
#   - RUNPATH $ORIGIN/../lib on every executable, so bin/x finds lib/ beside it.
#
# Included from the top-level CMakeLists.txt after the device mode and the CUDA toolkit are known;
# gq_portable_finish() runs at its end, once every target exists.
option(GQ_PORTABLE "GPU build whose binaries run elsewhere with nothing installed (static C++ \
runtime, fmt header-only, static libarchive/zlib/lzma/cudart, RUNPATH \$ORIGIN/../lib); for \
tools/gpu-check.sh --prepare" OFF)

if(GQ_PORTABLE)
  if(NOT GQ_WITH_CUDA)
    message(FATAL_ERROR "GQ_PORTABLE is for the GPU build (GQ_CUDA=ON)")
  endif()
  message(STATUS "gradqueue: portable binaries (static C++ runtime, RUNPATH $ORIGIN/../lib)")
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  # Linked into every executable (gq_portable_finish): keeps the static libstdc++ off glibc 2.36.
  add_library(gq_portable_compat OBJECT ${CMAKE_CURRENT_LIST_DIR}/gq_portable_compat.cpp)

  # fmt header-only, under the name the targets link (find_package(fmt) is skipped).
  find_path(GQ_FMT_INCLUDE_DIR fmt/format-inl.h REQUIRED)
  add_library(fmt::fmt INTERFACE IMPORTED)
  target_compile_definitions(fmt::fmt INTERFACE FMT_HEADER_ONLY=1)
  if(NOT GQ_FMT_INCLUDE_DIR STREQUAL "/usr/include")
    target_include_directories(fmt::fmt INTERFACE ${GQ_FMT_INCLUDE_DIR})
  endif()

  # Static archives for the dataset readers. The imported targets are made here, in the top
  # directory, so the find_package calls in datasets/ reuse them.
  find_library(GQ_LIBARCHIVE_STATIC NAMES libarchive.a REQUIRED)
  find_library(GQ_LZMA_STATIC NAMES liblzma.a REQUIRED)
  find_library(GQ_BZ2_STATIC NAMES libbz2.a REQUIRED)
  find_library(GQ_ZLIB_STATIC NAMES libz.a REQUIRED)
  find_library(GQ_NETTLE_STATIC NAMES libnettle.a REQUIRED)  # the write side's digests
  set(LibArchive_LIBRARY ${GQ_LIBARCHIVE_STATIC} CACHE FILEPATH "libarchive (static: GQ_PORTABLE)" FORCE)
  set(ZLIB_LIBRARY ${GQ_ZLIB_STATIC} CACHE FILEPATH "zlib (static: GQ_PORTABLE)" FORCE)
  find_package(ZLIB REQUIRED)
  find_package(LibArchive REQUIRED)
  # The write side (the dataset tests write archives) pulls in every write format, xar's too,
  # which calls libxml2; static libxml2 needs ICU (~30 MB a binary) and nothing writes xar, so
  # gq_portable_xml_stubs.cpp defines those libxml2 functions as failures instead.
  add_library(gq_portable_xml_stubs STATIC ${CMAKE_CURRENT_LIST_DIR}/gq_portable_xml_stubs.cpp)
  set_property(TARGET LibArchive::LibArchive APPEND PROPERTY INTERFACE_LINK_LIBRARIES
               ${GQ_NETTLE_STATIC} gq_portable_xml_stubs ${GQ_LZMA_STATIC} ${GQ_BZ2_STATIC} ZLIB::ZLIB)
endif()

# Every executable: RUNPATH $ORIGIN/../lib (and nothing else: no build-machine paths), and the
# static C++ runtime unless it links Google Benchmark (see above).
function(gq_portable_finish)
  if(NOT GQ_PORTABLE)
    return()
  endif()
  set(dirs ${PROJECT_SOURCE_DIR})
  set(count 0)
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    list(APPEND dirs ${subdirs})
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t IN LISTS targets)
      get_target_property(type ${t} TYPE)
      if(NOT type STREQUAL "EXECUTABLE")
        continue()
      endif()
      set_target_properties(${t} PROPERTIES BUILD_WITH_INSTALL_RPATH ON
                                            INSTALL_RPATH "\$ORIGIN/../lib")
      target_link_options(${t} PRIVATE -Wl,--enable-new-dtags)
      get_target_property(libs ${t} LINK_LIBRARIES)
      if(NOT libs MATCHES "benchmark::")
        target_link_options(${t} PRIVATE -static-libstdc++ -static-libgcc)
        target_link_libraries(${t} PRIVATE gq_portable_compat)
      endif()
      math(EXPR count "${count} + 1")
    endforeach()
  endwhile()
  message(STATUS "gradqueue: ${count} executables made portable")
endfunction()
