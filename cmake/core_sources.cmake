# SPDX-License-Identifier: GPL-2.0
# The C++ core for every userspace build (unit tests, fuzzers, benchmarks, dmremap), usable from
# any CMake project:
#   CORE_SOURCES            src/core/*.cpp as listed in src/core/sources.mk (Kbuild's list)
#   REMAP_CORE_CXX_FLAGS    the kernel's C++ subset, as the module's C++ is compiled (the
#                           kernel-side flags are src/kernel/cxx.mk's)
#   remap_core_library(name [extra compile options...])
#                           a static core library with the userspace boundary (src/user)
get_filename_component(REMAP_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

file(READ ${REMAP_ROOT}/src/core/sources.mk _remap_sources_mk)
string(REGEX MATCH "remap-core-sources :=[^#]*" _remap_sources "${_remap_sources_mk}")
string(REGEX REPLACE "^remap-core-sources :=" "" _remap_sources "${_remap_sources}")
string(REGEX REPLACE "[\\\\\n\t ]+" ";" _remap_sources "${_remap_sources}")
list(FILTER _remap_sources EXCLUDE REGEX "^$")
set(CORE_SOURCES ${_remap_sources})
list(TRANSFORM CORE_SOURCES PREPEND ${REMAP_ROOT}/src/core/)
list(TRANSFORM CORE_SOURCES APPEND .cpp)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${REMAP_ROOT}/src/core/sources.mk)

# No standard headers at all, no exceptions, no RTTI, no guarded statics; the warnings the
# kernel build makes errors.
set(REMAP_CORE_CXX_FLAGS -std=gnu++17 -nostdinc++ -fno-exceptions -fno-rtti
  -fno-threadsafe-statics -Wall -Wextra -Wold-style-cast -Wvla -Wframe-larger-than=2048)
set(REMAP_CORE_C_FLAGS -std=gnu11 -Wall -Wextra)

function(remap_core_library name)
  add_library(${name} STATIC ${CORE_SOURCES} ${REMAP_ROOT}/src/user/boundary_user.c)
  target_include_directories(${name} PUBLIC
    ${REMAP_ROOT}/include ${REMAP_ROOT}/src/core ${REMAP_ROOT}/src/user)
  target_compile_options(${name} PRIVATE
    "$<$<COMPILE_LANGUAGE:CXX>:${REMAP_CORE_CXX_FLAGS}>"
    "$<$<COMPILE_LANGUAGE:C>:${REMAP_CORE_C_FLAGS}>" ${ARGN})
  target_link_libraries(${name} PUBLIC isal Threads::Threads)
endfunction()
