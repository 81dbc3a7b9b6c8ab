// SPDX-License-Identifier: GPL-2.0
// The marks the workload (workload.cpp) leaves in the log, and what they oblige the checker to
// find. A mark is sent only after what it names was acknowledged, so any replay point after it
// must show that: dm-log-writes queues a mark for the log at once, and everything acknowledged
// before it (a flush that completed, a FUA superblock write) was queued earlier, so it lies
// before the mark in the log.
//
//   lwr-ready                   dm-remap was created: its first commit is on disk
//   lwr-remapping:<block>       a `remap` message for data block <block> is about to be sent:
//                               from here on the block may or may not be remapped
//   lwr-remap:<block>           that message returned success: the block is remapped
//   lwr-durable:<b>.<v>,...     fdatasync returned after version <v> of block <b> was written
//   lwr-unremapping:<block>     an `unremap` message for <block> is about to be sent: from
//                               here on the block may or may not be remapped
//   lwr-unremapped:<block>      that message returned success: the block is not remapped
//
// Mark texts must not contain spaces (dm-log-writes takes exactly one word).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace lwreplay {

constexpr const char *kMarkReady = "lwr-ready";
constexpr const char *kMarkRemapping = "lwr-remapping:";
constexpr const char *kMarkRemap = "lwr-remap:";
constexpr const char *kMarkDurable = "lwr-durable:";
constexpr const char *kMarkUnremapping = "lwr-unremapping:";
constexpr const char *kMarkUnremapped = "lwr-unremapped:";
// dm-log-writes keeps at most a log sector minus the entry header minus a NUL of a mark.
constexpr size_t kMaxMarkBytes = 512 - 32 - 1;

struct Expectations {
	bool ready = false;
	// Per data block, the newest version fdatasync made durable: a read may show it or a
	// later version, never an older one.
	std::map<uint64_t, uint64_t> durable;
	// Data blocks that must be remapped: remapped by message, or written durably while the
	// layer below failed their writes (an automatic remap committed before the write returned).
	std::set<uint64_t> remapped;
	// Data blocks that must not be remapped (an unremap message returned).
	std::set<uint64_t> not_remapped;

	// Takes one mark from the log into account. Marks of other origins (dm-log-writes' end
	// mark, a test's own) are ignored; a malformed lwr- mark throws LogError.
	void absorb(const std::string &mark, const std::set<uint64_t> &bad_blocks);
};

// The durable marks for these (block, version) pairs, each within kMaxMarkBytes.
std::vector<std::string> durable_marks(const std::vector<std::pair<uint64_t, uint64_t>> &writes);

} // namespace lwreplay
