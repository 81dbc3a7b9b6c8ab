// Runs the dmremap command dispatcher in-process, as `dmremap <words...>`, for the CLI tests.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "commands.h"

struct CliRun {
	int status;
	std::string out;
	std::string err;
};

inline CliRun cli(std::vector<std::string> words)
{
	words.insert(words.begin(), "dmremap");
	std::vector<char *> argv;
	for (auto &w : words)
		argv.push_back(w.data());
	std::ostringstream out, err;
	const int status = dmremap::run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
	return {status, out.str(), err.str()};
}
