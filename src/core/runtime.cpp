// SPDX-License-Identifier: GPL-2.0
// The C++ runtime support the core's subset needs: fallible allocation through the boundary,
// and, in the freestanding (kernel) build, the few symbols the compiler may reference.
#include "memory.h"

void *operator new(remap::usize size, remap::Gfp gfp) noexcept
{
	return rb_alloc(size, static_cast<enum rb_gfp>(gfp));
}

void *operator new[](remap::usize size, remap::Gfp gfp) noexcept
{
	return rb_alloc(size, static_cast<enum rb_gfp>(gfp));
}

void operator delete(void *ptr, remap::Gfp) noexcept { rb_free(ptr); }
void operator delete[](void *ptr, remap::Gfp) noexcept { rb_free(ptr); }

#ifdef REMAP_FREESTANDING
// A class with a virtual destructor makes the compiler emit a deleting destructor that names
// the ordinary operator delete even if nothing calls it. Userspace gets these from libstdc++;
// defining them there would fight the sanitizers' own.
void operator delete(void *ptr) noexcept { rb_free(ptr); }
void operator delete(void *ptr, remap::usize) noexcept { rb_free(ptr); }
void operator delete[](void *ptr) noexcept { rb_free(ptr); }
void operator delete[](void *ptr, remap::usize) noexcept { rb_free(ptr); }

// Called if a pure virtual function is ever reached through a half-built or dying object.
// The kernel only has a weak reference to it (a call would jump to NULL): fail loudly instead.
// Declared first: newer kernels build with -Wmissing-declarations.
extern "C" void __cxa_pure_virtual(void);
extern "C" void __cxa_pure_virtual(void)
{
	rb_log(RB_LOG_ERR, "pure virtual function called");
	__builtin_trap();
}
#endif
