// SPDX-License-Identifier: GPL-2.0
// Explicit, fallible allocation. Every allocation names its GFP class and can fail; there is no
// plain operator new in the core (the kernel build fails to link if one is used).
//   Foo *f = make<Foo>(Gfp::Noio, args...);  if (!f) return Error::no_memory("...");
//   destroy(f);
#pragma once

#include "base.h"

namespace remap {

enum class Gfp : int {
	Kernel = RB_GFP_KERNEL,
	Noio = RB_GFP_NOIO,
	Atomic = RB_GFP_ATOMIC,
};

// Tag for constructing into storage we already own (our own placement new, so the core
// never depends on <new>).
struct PlaceTag {};
constexpr PlaceTag place{};

} // namespace remap

// Fallible allocation: returns nullptr on failure, and the constructor is then not run.
void *operator new(remap::usize size, remap::Gfp gfp) noexcept;
void *operator new[](remap::usize size, remap::Gfp gfp) noexcept;
// Only reached if a constructor could throw, which none can; defined for completeness.
void operator delete(void *ptr, remap::Gfp gfp) noexcept;
void operator delete[](void *ptr, remap::Gfp gfp) noexcept;

inline void *operator new(remap::usize, void *where, remap::PlaceTag) noexcept { return where; }
inline void operator delete(void *, void *, remap::PlaceTag) noexcept {}

namespace remap {

template <typename T, typename... Args> [[nodiscard]] T *make(Gfp gfp, Args &&...args)
{
	return new (gfp) T(forward<Args>(args)...);
}

// The counterpart of make(): runs the destructor and returns the memory to rb_free().
template <typename T> void destroy(T *obj)
{
	if (!obj)
		return;
	obj->~T();
	rb_free(obj);
}

// Sole owner of a make()-allocated object; destroys it on scope exit.
template <typename T> class Own {
public:
	Own() = default;
	explicit Own(T *ptr) : ptr_(ptr) {}
	Own(const Own &) = delete;
	Own &operator=(const Own &) = delete;
	Own(Own &&other) : ptr_(other.release()) {}
	Own &operator=(Own &&other)
	{
		if (this != &other)
			reset(other.release());
		return *this;
	}
	~Own() { destroy(ptr_); }

	T *get() const { return ptr_; }
	T *operator->() const { return ptr_; }
	T &operator*() const { return *ptr_; }
	explicit operator bool() const { return ptr_ != nullptr; }
	[[nodiscard]] T *release()
	{
		T *p = ptr_;
		ptr_ = nullptr;
		return p;
	}
	void reset(T *ptr = nullptr)
	{
		destroy(ptr_);
		ptr_ = ptr;
	}

private:
	T *ptr_ = nullptr;
};

} // namespace remap
