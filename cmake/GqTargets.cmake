# Helpers that keep the one-source/two-devices rule in one place.

# Marks .cu files of a target as C++ in the emulator build (g++ -x c++), or leaves them to nvcc.
function(gq_device_sources target)
  get_target_property(srcs ${target} SOURCES)
  foreach(src IN LISTS srcs)
    if(src MATCHES "\\.cu$" AND NOT GQ_WITH_CUDA)
      set_source_files_properties(${src} TARGET_DIRECTORY ${target} PROPERTIES LANGUAGE CXX)
    endif()
  endforeach()
endfunction()

# gq_add_library(name SOURCES a.cu b.cpp ... LIBS dep...)
function(gq_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC gq_options ${ARG_LIBS})
  gq_device_sources(${name})
endfunction()

# gq_add_executable(name SOURCES ... LIBS ...): a tool binary in build/bin.
function(gq_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE gq_options ${ARG_LIBS})
  gq_device_sources(${name})
endfunction()

# gq_add_test(name [HOST] SOURCES ... LIBS ...): a GoogleTest binary registered with ctest. In the
# emulator build it is registered twice: forward thread order with one worker and work run when
# issued, and reverse order with two workers and deferred streams (runtime/emulated_streams.h), so
# races that one order hides show up in the other, and so does a missing dependency between streams. HOST marks a suite that
# launches no kernels (label "host"): thread order cannot matter, so it runs once.
function(gq_add_test name)
  cmake_parse_arguments(ARG "HOST" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE gq_options ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  gq_device_sources(${name})
  # Passive OpenMP: see runtime/host_threads.h (spinning oneDNN threads starve the emulator).
  set(data_env "GQ_DATA_DIR=${GQ_TEST_DATA_DIR};OMP_WAIT_POLICY=passive")
  if(ARG_HOST)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS "host" ENVIRONMENT "${data_env}")
  elseif(GQ_WITH_CUDA)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS "gpu" ENVIRONMENT "${data_env}")
  else()
    add_test(NAME ${name}.forward COMMAND ${name})
    set_tests_properties(${name}.forward PROPERTIES LABELS "forward"
      ENVIRONMENT "CUEMU_ORDER=forward;CUEMU_WORKERS=1;${data_env}")
    add_test(NAME ${name}.reverse COMMAND ${name})
    set_tests_properties(${name}.reverse PROPERTIES LABELS "reverse"
      ENVIRONMENT "CUEMU_ORDER=reverse;CUEMU_WORKERS=2;CUEMU_STREAMS=deferred;${data_env}")
  endif()
endfunction()
