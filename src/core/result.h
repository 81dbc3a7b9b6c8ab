// SPDX-License-Identifier: GPL-2.0
// Errors without exceptions: a function that can fail returns Result<T> (a value or a negative
// errno) and callers propagate with TRY(), which keeps the happy path straight. [[nodiscard]]
// makes dropping an error a compile error.
#pragma once

#include "memory.h"

namespace remap {

// A negative errno, carried explicitly so that an int result can never be mistaken for one.
struct Error {
	int code; // negative errno
	static constexpr Error from_errno(int negative_errno) { return Error{negative_errno}; }
};

template <typename T> class [[nodiscard]] Result {
public:
	Result(const T &value) : ok_(true) { new (storage_, place) T(value); }
	Result(T &&value) : ok_(true) { new (storage_, place) T(move(value)); }
	Result(Error error) : ok_(false), error_(error) {}
	Result(const Result &) = delete;
	Result &operator=(const Result &) = delete;
	Result(Result &&other) : ok_(other.ok_), error_(other.error_)
	{
		if (ok_)
			new (storage_, place) T(move(other.value()));
	}
	~Result()
	{
		if (ok_)
			value().~T();
	}

	bool is_error() const { return !ok_; }
	Error error() const { return error_; }
	T &value() { return *reinterpret_cast<T *>(&storage_); }
	const T &value() const { return *reinterpret_cast<const T *>(&storage_); }
	T release_value() { return move(value()); }

private:
	bool ok_;
	Error error_{0};
	// NOLINTNEXTLINE(bugprone-sizeof-expression): T may be a pointer
	alignas(T) unsigned char storage_[sizeof(T)];
};

template <> class [[nodiscard]] Result<void> {
public:
	Result() : error_{0} {}
	Result(Error error) : error_(error) {}
	bool is_error() const { return error_.code != 0; }
	Error error() const { return error_; }
	void release_value() {}

private:
	Error error_;
};

using Status = Result<void>;

// Converts a Status to the 0 / -errno convention of every dm callback.
inline int to_errno(const Status &s) { return s.is_error() ? s.error().code : 0; }

} // namespace remap

// Evaluate a Result-returning expression; on error return the error from the enclosing
// function, otherwise yield the value. (A GNU statement expression, as the kernel uses.)
#define TRY(expr)                                                                                  \
	({                                                                                         \
		auto _try_result = (expr);                                                         \
		if (_try_result.is_error())                                                        \
			return _try_result.error();                                                \
		_try_result.release_value();                                                       \
	})
