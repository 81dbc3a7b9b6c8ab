// SPDX-License-Identifier: GPL-2.0
// Explicit, fallible allocation. Every allocation names its GFP class and can fail; there is no
// plain operator new in the core (the kernel build fails to link if one is used).
//   Foo *f = make<Foo>(Gfp::Noio, args...);  if (!f) return Error::no_memory("...");
//   destroy(f);
//   Array<u64> keys;  if (!keys.alloc(n, Gfp::Kernel)) return Error::no_memory("...");
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

// Sole owner of an array of n Ts from rb_alloc_large() (kmalloc, or vmalloc when large):
// move-only, returned to rb_free_large() by its destructor. alloc() is the one way to fill it
// and says whether it did; it constructs nothing, so T is a plain type (integers, pointers,
// trivially copyable structs) and the elements start as they are, or zeroed by alloc_zeroed().
template <typename T> class Array {
	static_assert(__is_trivially_copyable(T), "Array<T> constructs and destroys nothing");

public:
	Array() = default;
	Array(const Array &) = delete;
	Array &operator=(const Array &) = delete;
	Array(Array &&other) noexcept : data_(other.data_), size_(other.size_)
	{
		other.data_ = nullptr;
		other.size_ = 0;
	}
	Array &operator=(Array &&other) noexcept
	{
		if (this != &other) {
			reset();
			data_ = other.data_;
			size_ = other.size_;
			other.data_ = nullptr;
			other.size_ = 0;
		}
		return *this;
	}
	~Array() { rb_free_large(data_); }

	// Replaces the contents with n uninitialized elements (none for n = 0, which always
	// succeeds). false, and the array left empty, if there is no memory or n * sizeof(T)
	// does not fit in a usize.
	[[nodiscard]] bool alloc(usize n, Gfp gfp)
	{
		reset();
		usize bytes;
		if (n == 0)
			return true;
		if (__builtin_mul_overflow(n, sizeof(T), &bytes))
			return false;
		data_ = static_cast<T *>(rb_alloc_large(bytes, static_cast<rb_gfp>(gfp)));
		size_ = data_ ? n : 0;
		return data_ != nullptr;
	}
	// The same, every byte zero.
	[[nodiscard]] bool alloc_zeroed(usize n, Gfp gfp)
	{
		if (!alloc(n, gfp))
			return false;
		if (n)
			__builtin_memset(static_cast<void *>(data_), 0, n * sizeof(T));
		return true;
	}
	void reset()
	{
		rb_free_large(data_);
		data_ = nullptr;
		size_ = 0;
	}

	usize size() const { return size_; }
	explicit operator bool() const { return data_ != nullptr; }
	T *data() { return data_; }
	const T *data() const { return data_; }
	T &operator[](usize i) { return data_[i]; }
	const T &operator[](usize i) const { return data_[i]; }
	T *begin() { return data_; }
	T *end() { return data_ + size_; }
	const T *begin() const { return data_; }
	const T *end() const { return data_ + size_; }

private:
	T *data_ = nullptr;
	usize size_ = 0;
};

} // namespace remap
