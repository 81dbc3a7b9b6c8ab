// SPDX-License-Identifier: GPL-2.0
// See dmsetup.h.
#include "dmsetup.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"

namespace dmremap {
namespace {

struct Pipe {
	int fd[2] = {-1, -1};
	Pipe()
	{
		if (::pipe2(fd, O_CLOEXEC) != 0)
			throw OperationalError(errno_message("pipe", errno));
	}
	~Pipe()
	{
		close_end(0);
		close_end(1);
	}
	void close_end(int i)
	{
		if (fd[i] >= 0)
			::close(fd[i]);
		fd[i] = -1;
	}
};

// Reads both pipes to EOF, whichever has data, so a child filling one never blocks.
void drain(Pipe &out, Pipe &err, CommandResult *r)
{
	struct pollfd fds[2] = {{out.fd[0], POLLIN, 0}, {err.fd[0], POLLIN, 0}};
	std::string *sinks[2] = {&r->out, &r->err};
	int open = 2;
	char buf[4096];
	while (open) {
		if (::poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			throw OperationalError(errno_message("poll", errno));
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				fds[i].fd = -1;
				open--;
				continue;
			}
			sinks[i]->append(buf, static_cast<size_t>(n));
		}
	}
}

std::string trim_newline(std::string s)
{
	while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
		s.pop_back();
	return s;
}

} // namespace

CommandResult run_command(const std::vector<std::string> &argv)
{
	std::vector<char *> args;
	for (const auto &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);

	Pipe out, err;
	const pid_t pid = ::fork();
	if (pid < 0)
		throw OperationalError(errno_message("fork", errno));
	if (pid == 0) {
		::dup2(out.fd[1], STDOUT_FILENO);
		::dup2(err.fd[1], STDERR_FILENO);
		::execvp(args[0], args.data());
		const std::string msg = errno_message("cannot run " + argv[0], errno) + "\n";
		(void)!::write(STDERR_FILENO, msg.data(), msg.size());
		::_exit(127);
	}
	out.close_end(1);
	err.close_end(1);
	CommandResult r;
	drain(out, err, &r);
	int status = 0;
	while (::waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			throw OperationalError(errno_message("waitpid", errno));
	}
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return r;
}

std::string dmsetup(const std::vector<std::string> &args)
{
	const char *bin = std::getenv("DMREMAP_DMSETUP");
	std::vector<std::string> argv = {bin && *bin ? bin : "dmsetup"};
	argv.insert(argv.end(), args.begin(), args.end());
	const CommandResult r = run_command(argv);
	if (r.status != 0) {
		std::string cmd;
		for (const auto &a : argv)
			cmd += (cmd.empty() ? "" : " ") + a;
		const std::string why = trim_newline(r.err);
		throw OperationalError(cmd + " failed (exit status " + std::to_string(r.status) +
				       ")" + (why.empty() ? "" : ": " + why));
	}
	return r.out;
}

std::string dm_message(const std::string &name, const std::vector<std::string> &words)
{
	std::vector<std::string> args = {"message", name, "0", "--"};
	args.insert(args.end(), words.begin(), words.end());
	return trim_newline(dmsetup(args));
}

} // namespace dmremap
