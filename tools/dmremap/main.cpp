// SPDX-License-Identifier: GPL-2.0
// dmremap: the dm-remap administration tool. See dmremap(8).
#include <iostream>

#include "commands.h"

int main(int argc, char **argv)
{
	const int status = dmremap::run_cli(argc, argv, std::cout, std::cerr);
	std::cout.flush();
	return std::cout.good() ? status : 1;
}
