# SPDX-License-Identifier: GPL-2.0
# The C++ core: src/core/<name>.cpp for each name. The one list every build reads: Kbuild (the
# module, the KUnit module) includes this file; cmake/core_sources.cmake parses the line below
# for the userspace builds (unit tests, fuzzers, benchmarks, dmremap).
remap-core-sources := runtime parse_number table_parser status bitmap spare_allocator \
	lookup_table lookup_table_build message_parser geometry lost_sectors metadata_codec \
	metadata_store registry sort remap_target messages stats entry_points fault_policy \
	mapping_change fault_repair
