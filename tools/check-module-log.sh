#!/bin/sh
# Fails the module build on what Kbuild only warns about: objtool findings in any object (the
# C++ ones included), symbols modpost could not resolve (e.g. a libgcc helper or operator new)
# and any other modpost warning (a section mismatch: a call from .init.text into .exit.text).
set -eu
log=$1
if grep -E 'objtool:|undefined!|modpost: .*(error|WARNING)|(WARNING|ERROR): modpost:' "$log" >&2; then
	echo "error: module build produced objtool or modpost findings (see above)" >&2
	exit 1
fi
