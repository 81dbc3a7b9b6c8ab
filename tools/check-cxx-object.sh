#!/bin/sh
# Rejects a C++ object the kernel cannot run correctly: the module loader never runs
# .init_array/.ctors (CONFIG_CONSTRUCTORS is off), and exception tables mean the subset leaked.
# On failure the object is deleted so that make does not treat it as up to date.
set -eu
obj=$1
bad=$(readelf -SW "$obj" | grep -oE '\.(init_array|fini_array|ctors|dtors|eh_frame|gcc_except_table)[^ ]*' | sort -u || true)
if [ -n "$bad" ]; then
	echo "error: $obj contains sections the kernel cannot honour: $(echo "$bad" | tr '\n' ' ')" >&2
	echo "       (a global object with a constructor/destructor, or exceptions/unwind tables)" >&2
	rm -f "$obj"
	exit 1
fi
# COMDAT groups: the linker would drop all but one copy while objtool's tables still point
# into the dropped ones (see -fno-weak in Kbuild).
if readelf -SW "$obj" | grep -q ' GROUP '; then
	echo "error: $obj contains COMDAT groups (build C++ with -fno-weak)" >&2
	rm -f "$obj"
	exit 1
fi
exit 0
