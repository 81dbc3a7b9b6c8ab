// SPDX-License-Identifier: GPL-2.0
// dmremap: the dm-remap administration tool. See dmremap(8). Called as dmremap-generator (a
// link in systemd's generator directory), it is the systemd generator of dmremaptab(5).
#include <cstring>
#include <iostream>
#include <limits.h>
#include <unistd.h>

#include "commands.h"
#include "system.h"
#include "tab.h"

int main(int argc, char **argv)
{
	const char *slash = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
	const char *base = slash ? slash + 1 : argc > 0 ? argv[0] : "";
	if (std::strcmp(base, "dmremap-generator") == 0) {
		char self[PATH_MAX];
		const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
		const std::string bin = n > 0 ? std::string(self, static_cast<size_t>(n))
					      : std::string("/usr/sbin/dmremap");
		return dmremap::run_generator(std::vector<std::string>(argv + 1, argv + argc),
					      dmremap::default_tab_path(), bin, std::cerr);
	}
	const int status = dmremap::run_cli(argc, argv, std::cout, std::cerr);
	std::cout.flush();
	return std::cout.good() ? status : 1;
}
