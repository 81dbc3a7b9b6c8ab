# SPDX-License-Identifier: GPL-2.0
# The C++ core's sources, one list for every userspace build (unit tests, fuzzers); Kbuild's
# remap-core-objs names the same files for the module. Usable from any CMake project.
get_filename_component(REMAP_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

set(CORE_SOURCES runtime parse_number table_parser status bitmap spare_allocator lookup_table message_parser geometry lost_sectors metadata_codec metadata_store registry remap_target fault_policy mapping_change fault_repair)
list(TRANSFORM CORE_SOURCES PREPEND ${REMAP_ROOT}/src/core/)
list(TRANSFORM CORE_SOURCES APPEND .cpp)
