// SPDX-License-Identifier: GPL-2.0
// The commands that fit dm-remap into a running system: activate/deactivate (dmremaptab(5)),
// udev-probe (the udev rule's member claim), monitor (dm events to the journal, a program and a
// node-exporter textfile), and the systemd generator. Registered in the command table by
// commands.cpp.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "commands.h"

namespace dmremap {

// The list with the system commands appended.
std::vector<Command> append_system_commands(std::vector<Command> list);

int cmd_activate(const Args &a, std::ostream &out);
int cmd_deactivate(const Args &a, std::ostream &out);
int cmd_udev_probe(const Args &a, std::ostream &out);
int cmd_monitor(const Args &a, std::ostream &out);

// dmremap-generator: systemd calls it with its three output directories; the units go into the
// first (normal) one. Reads `tab` (default_tab_path()); problems go to `err`. Returns the exit
// status (0 even for skipped lines, as systemd's own generators do).
int run_generator(const std::vector<std::string> &dirs, const std::string &tab,
		  const std::string &dmremap_bin, std::ostream &err);

// systemd's escaping of a string for a unit name (systemd-escape): [A-Za-z0-9:_.] kept (a
// leading '.' escaped), '/' as '-', everything else as \xNN.
std::string unit_escape(const std::string &s);

} // namespace dmremap
