// SPDX-License-Identifier: GPL-2.0
// Errors without exceptions: a function that can fail returns Result<T> (a value or an Error)
// and callers propagate with TRY(), which keeps the happy path straight. [[nodiscard]] makes
// dropping an error a compile error. The C boundary turns an Error into -errno plus its text,
// once (entry_points.cpp, table_parser.cpp).
#pragma once

#include "memory.h"

namespace remap {

// A negative errno and a string literal that names the problem, together: the errno is what a
// dm callback returns, the text what ti->error, a message reply or a log line says. The text
// is never null and, being a literal, never needs freeing.
class [[nodiscard]] Error {
public:
	static constexpr Error from_errno(int negative_errno, const char *message)
	{
		return Error(negative_errno, message);
	}
	// The common classes, so that the reason for the errno reads at the call.
	static constexpr Error invalid(const char *message) { return Error(-kEINVAL, message); }
	static constexpr Error no_memory(const char *message) { return Error(-kENOMEM, message); }
	static constexpr Error io(const char *message) { return Error(-kEIO, message); }
	static constexpr Error busy(const char *message) { return Error(-kEBUSY, message); }

	constexpr int code() const { return code_; }
	constexpr const char *message() const { return message_; }

private:
	template <typename> friend class Result;
	constexpr Error(int negative_errno, const char *message) :
	    code_(negative_errno), message_(message)
	{}
	// Only Result's "no error": code 0 and no text.
	constexpr Error() : code_(0), message_(nullptr) {}

	int code_;
	const char *message_;
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
	Error error_;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): T may be a pointer
	alignas(T) unsigned char storage_[sizeof(T)];
};

template <> class [[nodiscard]] Result<void> {
public:
	Result() = default;
	Result(Error error) : error_(error) {}
	bool is_error() const { return error_.code() != 0; }
	Error error() const { return error_; }
	void release_value() {}

private:
	Error error_;
};

using Status = Result<void>;
// AK's name, for readers who know it.
template <typename T> using ErrorOr = Result<T>;

// The text of an error, or nullptr for success: for tools and tests that print or compare it.
inline const char *error_text(const Status &s)
{
	return s.is_error() ? s.error().message() : nullptr;
}

// Converts a Status to the 0 / -errno convention of every dm callback.
inline int to_errno(const Status &s) { return s.is_error() ? s.error().code() : 0; }

// The C boundary's one conversion (include/remap_boundary.h): 0, or -errno with the text in
// *error (left alone on success).
inline int to_boundary(const Error &e, const char **error)
{
	*error = e.message();
	return e.code();
}
inline int to_boundary(const Status &s, const char **error)
{
	return s.is_error() ? to_boundary(s.error(), error) : 0;
}

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
