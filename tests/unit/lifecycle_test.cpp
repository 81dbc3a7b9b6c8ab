// The engine's life as dm drives it: constructor, preresume, postsuspend, reload and
// destructor; what status and stats may read meanwhile; the registry that lets the tables of
// one mapped device hand the mapping over; read-only tables.
#include <functional>
#include <thread>

#include "engine_rig.h"

namespace {

constexpr int kEROFS = 30;

// The disk's reads and writes of the spare device from now on.
struct SpareIo {
	// fail: every spare read and write fails; with metadata_of, only the metadata area of
	// that layout dies (spare data blocks still take writes), so a commit is what fails.
	explicit SpareIo(MemDisk &d, bool fail = false, const Layout *metadata_of = nullptr) :
	    disk(d)
	{
		disk.read_filter = [this, fail](int dev, u64) {
			reads += dev == RB_SPARE_DEV;
			return !fail || dev != RB_SPARE_DEV;
		};
		disk.write_filter = [this, fail, metadata_of](const MemDisk::Write &w) {
			writes += w.dev == RB_SPARE_DEV;
			if (metadata_of && metadata_of->is_spare_data(w))
				return true;
			return !fail || w.dev != RB_SPARE_DEV;
		};
	}
	~SpareIo()
	{
		disk.read_filter = nullptr;
		disk.write_filter = nullptr;
	}
	MemDisk &disk;
	int reads = 0;
	int writes = 0;
};

rc_route route_of(const rc_target *t, u64 sector) { return map_io(t, sector, 8).route; }

std::vector<std::string> words(const std::string &s)
{
	std::istringstream in(s);
	std::vector<std::string> out;
	for (std::string w; in >> w;)
		out.push_back(w);
	return out;
}

// A table line's rc_table with one thing changed, on the rig's devices.
Target create_with(Rig &rig, const rc_table &table, const rc_devices &devs, int *err,
		   std::string *error)
{
	const char *e = nullptr;
	rc_target *t = nullptr;
	*err = rc_target_create(&table, &devs, rig.disk.ops(), rig.disk.ctx(), &t, &e);
	*error = e ? e : "";
	return Target(t);
}

// Runs `race` at the first read of the metadata table area after each read of the
// superblocks: between a load's superblock and table reads (the live table's commits land
// there).
class RaceHook {
public:
	RaceHook(Rig &rig, std::function<void()> race) : disk_(rig.disk)
	{
		const Layout &l = rig.layout;
		disk_.read_filter = [this, &l, race](int dev, u64 sector) {
			if (dev != RB_SPARE_DEV || inside_)
				return true;
			if (sector == l.spare_sector(0) || sector == l.spare_sector(1)) {
				armed_ = true;
			} else if (armed_ && sector >= l.spare_sector(2) &&
				   sector < l.spare_sector(l.first_usable())) {
				armed_ = false;
				inside_ = true;
				race();
				inside_ = false;
			}
			return true;
		};
	}
	~RaceHook() { off(); }
	void off() { disk_.read_filter = nullptr; }

private:
	MemDisk &disk_;
	bool armed_ = false;
	bool inside_ = false;
};

} // namespace

// Finding 3: a suspend/resume of the same table reads and writes no metadata.
TEST(Lifecycle, SameTableResumeDoesNoMetadataIo)
{
	Rig rig;
	Target t = rig.started();
	ASSERT_GE(remap_block(t.get(), rig.layout, 5), 0);
	SpareIo io(rig.disk);
	for (int i = 0; i < 3; i++) {
		rc_target_suspend(t.get());
		ASSERT_EQ(rc_target_resume(t.get()), 0);
	}
	EXPECT_EQ(io.reads, 0);
	EXPECT_EQ(io.writes, 0);
	EXPECT_EQ(metadata_state(t.get()), "ok");
}

// Finding 3 (the reviewer's ResumeNeedsTheSpareEvenWhenNothingCanHaveChanged, flipped): the
// spare dies, a remap fails its commit (metadata=failed); suspend + resume still resumes, in
// failed mode, with an event, and I/O is still routed.
TEST(Lifecycle, ResumeWithADeadSpareResumesInFailedModeWithAnEvent)
{
	Rig rig;
	Target t = rig.started();
	const long long spare5 = remap_block(t.get(), rig.layout, 5);
	ASSERT_GE(spare5, 0);
	// The metadata area dies: a remap's data write lands, its commit fails. (A spare that
	// takes no write at all is a spare failure instead: fault_path_test.cpp.)
	SpareIo dead(rig.disk, true, &rig.layout);
	EXPECT_LT(msg(t.get(), "remap " + std::to_string(9 * rig.layout.bs())).rc, 0);
	EXPECT_EQ(metadata_state(t.get()), "failed");
	const std::string before = status_info(t.get());
	const int events = rig.disk.events;

	rc_target_suspend(t.get());
	EXPECT_EQ(rc_target_resume(t.get()), 0) << "preresume must not fail for a dead spare";
	EXPECT_GT(rig.disk.events, events) << "resuming in failed mode raises an event";
	EXPECT_EQ(status_info(t.get()), before);
	EXPECT_EQ(words(status_info(t.get()))[4], "failed");
	EXPECT_EQ(route_of(t.get(), 0), RC_ROUTE_DATA);
	const rc_mapping m = map_io(t.get(), 5 * rig.layout.bs(), 8);
	EXPECT_EQ(m.route, RC_ROUTE_SPARE);
	EXPECT_EQ(m.sector, rig.layout.spare_sector(static_cast<u64>(spare5)));
	EXPECT_EQ(route_of(t.get(), 9 * rig.layout.bs()), RC_ROUTE_DATA);
	// The next resume says so again, still without I/O.
	const int reads = dead.reads, writes = dead.writes;
	rc_target_suspend(t.get());
	EXPECT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_EQ(dead.reads, reads);
	EXPECT_EQ(dead.writes, writes);
}

// A format that fails at the first resume is reported the same way.
TEST(Lifecycle, FirstResumeWhoseFormatFailsResumesInFailedMode)
{
	Rig rig;
	Target t = rig.create();
	SpareIo dead(rig.disk, true);
	const int events = rig.disk.events;
	EXPECT_EQ(rc_target_resume(t.get()), 0);
	EXPECT_EQ(metadata_state(t.get()), "failed");
	EXPECT_GT(rig.disk.events, events);
	EXPECT_EQ(route_of(t.get(), 0), RC_ROUTE_DATA);
}

// Finding 3, reload: the new table's first resume takes the live table's mapping over
// without reading the disk, including what the live table committed after the new one loaded.
TEST(Lifecycle, ReloadTakesOverCommitsOfTheLiveTableWithoutIo)
{
	Rig rig;
	Target a = rig.started();
	ASSERT_GE(remap_block(a.get(), rig.layout, 1), 0);
	Target b = rig.create(); // the reload's constructor
	ASSERT_GE(remap_block(a.get(), rig.layout, 2), 0);
	ASSERT_GE(remap_block(a.get(), rig.layout, 3), 0);
	const Mapping want = list_all(a.get());
	const u64 seq_a = seq(a.get());
	ASSERT_EQ(want.size(), 3u);
	EXPECT_EQ(list_all(b.get()).size(), 1u) << "b loaded before the commits";

	rc_target_suspend(a.get());
	{
		SpareIo dead(rig.disk, true); // the disk is not needed for the hand-over
		ASSERT_EQ(rc_target_resume(b.get()), 0);
		EXPECT_EQ(dead.reads, 0);
		EXPECT_EQ(dead.writes, 0);
	}
	a.reset(); // dm destroys the old table after the new one resumed
	EXPECT_EQ(list_all(b.get()), want);
	EXPECT_EQ(seq(b.get()), seq_a);
	EXPECT_EQ(metadata_state(b.get()), "ok");
	EXPECT_EQ(stat(b.get(), "remapped"), 3u);
	EXPECT_EQ(stat(b.get(), "spare_used"), 3u);

	// b carries on from there: its commit follows a's, and a fresh load sees it all.
	ASSERT_GE(remap_block(b.get(), rig.layout, 4), 0);
	EXPECT_EQ(seq(b.get()), seq_a + 1);
	const Mapping all = list_all(b.get());
	rc_target_suspend(b.get());
	b.reset();
	Target c = rig.started();
	EXPECT_EQ(list_all(c.get()), all);
	EXPECT_EQ(seq(c.get()), seq_a + 1);
}

// Each table has its own I/O context (the glue's, holding its devices): the store a reloaded
// table takes over must do its I/O through the new table's context, since the old one's dies
// with the old table.
TEST(Lifecycle, ATakenOverStoreDoesItsIoThroughTheNewTable)
{
	struct Proxy {
		MemDisk *disk;
		int reads = 0, writes = 0;
		static int read(void *ctx, rb_device dev, u64 sector, void *buf, u32 bytes,
				unsigned flags)
		{
			auto *p = static_cast<Proxy *>(ctx);
			p->reads++;
			return p->disk->ops()->read(p->disk->ctx(), dev, sector, buf, bytes, flags);
		}
		static int write(void *ctx, rb_device dev, u64 sector, const void *buf, u32 bytes,
				 unsigned flags)
		{
			auto *p = static_cast<Proxy *>(ctx);
			p->writes++;
			return p->disk->ops()->write(p->disk->ctx(), dev, sector, buf, bytes,
						     flags);
		}
		static void drain(void *ctx, u32 g, u64 s, u64 n)
		{
			auto *p = static_cast<Proxy *>(ctx);
			p->disk->ops()->drain(p->disk->ctx(), g, s, n);
		}
		static void release(void *) {}
		static void event(void *ctx)
		{
			auto *p = static_cast<Proxy *>(ctx);
			p->disk->ops()->event(p->disk->ctx());
		}
	};
	static const rb_io_ops kProxyOps = {Proxy::read, Proxy::write, Proxy::drain, Proxy::release,
					    Proxy::event};
	Rig rig;
	Target a = rig.started();
	Proxy proxy{&rig.disk};
	const char *error = nullptr;
	rc_target *created = nullptr;
	(void)rc_target_create(&rig.table, &rig.devs, &kProxyOps, &proxy, &created, &error);
	Target b(created);
	ASSERT_TRUE(b) << error;
	ASSERT_GE(remap_block(a.get(), rig.layout, 1), 0); // b takes this over
	rc_target_suspend(a.get());
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	a.reset();
	const int writes = rig.disk.writes, through_b = proxy.writes;
	ASSERT_GE(remap_block(b.get(), rig.layout, 2), 0);
	EXPECT_GT(rig.disk.writes, writes);
	EXPECT_EQ(proxy.writes - through_b, rig.disk.writes - writes)
		<< "the commit went through the destroyed table's context";
	EXPECT_EQ(list_all(b.get()).size(), 2u);
}

// A reload after a failed commit: the live table committed nothing since the new one loaded
// (from a spare that works again), so the new one keeps its own load: metadata is ok.
TEST(Lifecycle, ReloadAfterAFailedCommitStartsFromItsOwnLoad)
{
	Rig rig;
	Target a = rig.started();
	ASSERT_GE(remap_block(a.get(), rig.layout, 1), 0);
	{
		SpareIo dead(rig.disk, true, &rig.layout);
		EXPECT_LT(msg(a.get(), "remap " + std::to_string(7 * rig.layout.bs())).rc, 0);
	}
	ASSERT_EQ(metadata_state(a.get()), "failed");
	Target b = rig.create();
	rc_target_suspend(a.get());
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	a.reset();
	EXPECT_EQ(metadata_state(b.get()), "ok");
	EXPECT_GE(remap_block(b.get(), rig.layout, 7), 0);
	EXPECT_EQ(list_all(b.get()).size(), 2u);
}

// The old table after the hand-over never writes again (dm destroys it next).
TEST(Lifecycle, ATableThatHandedOverRefusesChanges)
{
	Rig rig;
	Target a = rig.started();
	Target b = rig.create();
	rc_target_suspend(a.get());
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	const int writes = rig.disk.writes;
	EXPECT_LT(rc_target_resume(a.get()), 0);
	EXPECT_LT(msg(a.get(), "remap 0").rc, 0);
	EXPECT_EQ(rig.disk.writes, writes);
	EXPECT_GE(remap_block(b.get(), rig.layout, 0), 0);
}

// In dm the old table is suspended before the new one's preresume; a live one is not
// robbed of its mapping.
TEST(Lifecycle, NoHandOverFromATableThatIsNotSuspended)
{
	Rig rig;
	Target a = rig.started();
	Target b = rig.create();
	EXPECT_EQ(rc_target_resume(b.get()), -kEBUSY);
	EXPECT_GE(remap_block(a.get(), rig.layout, 0), 0);
	rc_target_suspend(a.get());
	EXPECT_EQ(rc_target_resume(b.get()), 0);
	EXPECT_EQ(list_all(b.get()).size(), 1u);
}

// Another mapped device over the same area is refused in its constructor (it would format
// or remap over the live device's spare blocks); once the first is gone it may.
TEST(Lifecycle, AnotherDeviceOverTheSameAreaIsRefused)
{
	Rig rig;
	Target a = rig.started();
	const int writes = rig.disk.writes;
	rc_devices other = rig.devs;
	other.owner_id += 1000000;
	int err;
	std::string error;
	Target b = create_with(rig, rig.table, other, &err, &error);
	EXPECT_FALSE(b);
	EXPECT_EQ(err, -kEBUSY);
	EXPECT_EQ(error, "Spare area is in use by another device");

	// The same data range with a spare area elsewhere: refused too.
	rc_devices other_spare = other;
	other_spare.spare_dev_id += 1000000;
	b = create_with(rig, rig.table, other_spare, &err, &error);
	EXPECT_FALSE(b);
	EXPECT_EQ(err, -kEBUSY);
	EXPECT_EQ(error, "Data range is in use by another remap device");

	// A disjoint area of the same disks is another device's to use.
	rc_devices elsewhere = other;
	elsewhere.data_dev_id += 1000000;
	elsewhere.spare_dev_id += 1000000;
	b = create_with(rig, rig.table, elsewhere, &err, &error);
	EXPECT_TRUE(b) << error;
	b.reset();
	EXPECT_EQ(rig.disk.writes, writes);

	rc_target_suspend(a.get());
	a.reset();
	b = create_with(rig, rig.table, other, &err, &error);
	EXPECT_TRUE(b) << error;
}

// A reload must keep the live table's devices, offsets and block_size; it may grow the ranges.
TEST(Lifecycle, AReloadWithAnotherGeometryIsRefused)
{
	Rig rig;
	Target a = rig.started();
	int err;
	std::string error;
	rc_table bigger_blocks = rig.table;
	bigger_blocks.block_size = 8192;
	Target b = create_with(rig, bigger_blocks, rig.devs, &err, &error);
	EXPECT_FALSE(b);
	EXPECT_EQ(err, -kEINVAL);
	EXPECT_EQ(error, "A reload must keep the live table's devices, offsets and block_size");

	rc_table shifted = rig.table;
	shifted.spare_offset += rig.layout.bs();
	b = create_with(rig, shifted, rig.devs, &err, &error);
	EXPECT_FALSE(b);
	EXPECT_EQ(err, -kEINVAL);

	// Shorter than a remapped block: refused, naming the reason.
	EXPECT_GE(remap_block(a.get(), rig.layout, rig.layout.data_blocks - 1), 0);
	rc_devices shorter = rig.devs;
	shorter.target_len -= rig.layout.bs();
	b = create_with(rig, rig.table, shorter, &err, &error);
	EXPECT_FALSE(b);
	EXPECT_EQ(err, -kEINVAL);
	EXPECT_EQ(error,
		  "The data range cannot shrink: a remapped or lost block lies past its new end");

	// A smaller spare area: refused.
	rc_table less_spare = rig.table;
	less_spare.spare_len -= rig.layout.bs();
	b = create_with(rig, less_spare, rig.devs, &err, &error);
	EXPECT_FALSE(b);
	EXPECT_EQ(err, -kEINVAL);
	EXPECT_EQ(error,
		  "Superblock geometry does not match the table line: spare_len (the spare "
		  "area cannot shrink)");

	// The same geometry with other features is a reload like any other.
	rc_table no_auto = rig.table;
	no_auto.auto_remap = 0;
	b = create_with(rig, no_auto, rig.devs, &err, &error);
	EXPECT_TRUE(b) << error;
}

// Device ids 0 (a host that names no devices): nothing is registered, and a first resume
// still checks the disk for another table's commits.
TEST(Lifecycle, TargetsWithoutDeviceIdsAreNotRegistered)
{
	Rig rig;
	rig.devs.data_dev_id = rig.devs.spare_dev_id = rig.devs.owner_id = 0;
	Target a = rig.started();
	Target b = rig.create();
	ASSERT_GE(remap_block(a.get(), rig.layout, 3), 0);
	rc_target_suspend(a.get());
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	EXPECT_EQ(list_all(b.get()), list_all(a.get()));
	rc_devices other = rig.devs;
	other.owner_id = 0;
	int err;
	std::string error;
	Target c = create_with(rig, rig.table, other, &err, &error);
	EXPECT_TRUE(c) << error;
}

// Finding 12 (the reviewer's ReloadConstructorFailsIfTheLiveTableCommitsTwiceDuringItsLoad,
// flipped): the live table commits twice between the new load's superblock and table reads,
// on two loads in a row. The constructor loads again and succeeds with the newest commit.
TEST(Lifecycle, ReloadConstructorRetriesWhenTheLiveTableCommitsDuringItsLoad)
{
	Rig rig;
	const Layout &l = rig.layout;
	ASSERT_EQ(l.table_blocks(), 1u);
	Target old_t = rig.started();
	for (u64 b = 0; b < 5; b++)
		ASSERT_GE(remap_block(old_t.get(), l, b), 0);
	int fired = 0;
	u64 next = 100;
	RaceHook hook(rig, [&] {
		if (fired++ >= 2)
			return;
		EXPECT_GE(remap_block(old_t.get(), l, next++), 0); // seq N + 1
		EXPECT_GE(remap_block(old_t.get(), l, next++), 0); // seq N + 2
	});
	const char *error = nullptr;
	rc_target *created = nullptr;
	const int err = rc_target_create(&rig.table, &rig.devs, rig.disk.ops(), rig.disk.ctx(),
					 &created, &error);
	Target t(created);
	hook.off();
	EXPECT_EQ(fired, 3) << "two loads raced, the third did not";
	ASSERT_TRUE(t) << error << " (" << err << ")";
	EXPECT_EQ(seq(t.get()), seq(old_t.get()));
	EXPECT_EQ(metadata_state(t.get()), "ok") << "a race is not damage";
	EXPECT_EQ(list_all(t.get()), list_all(old_t.get()));
}

// A live table that commits during every load: the constructor gives up after a few loads
// with an error that says so, not one that reads like corruption.
TEST(Lifecycle, ReloadConstructorRacingEveryLoadFailsWithAClearError)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target old_t = rig.started();
	ASSERT_GE(remap_block(old_t.get(), l, 0), 0);
	int fired = 0;
	u64 next = 100;
	RaceHook hook(rig, [&] {
		fired++;
		EXPECT_GE(remap_block(old_t.get(), l, next++), 0);
		EXPECT_GE(remap_block(old_t.get(), l, next++), 0);
	});
	const char *error = nullptr;
	rc_target *created = nullptr;
	const int err = rc_target_create(&rig.table, &rig.devs, rig.disk.ops(), rig.disk.ctx(),
					 &created, &error);
	Target t(created);
	hook.off();
	EXPECT_FALSE(t);
	EXPECT_EQ(fired, 4) << "bounded";
	EXPECT_EQ(err, -kEBUSY);
	EXPECT_NE(std::string(error ? error : "").find("kept changing"), std::string::npos)
		<< error;
	Target later = rig.create();
	EXPECT_TRUE(later) << "the metadata itself is fine";
}

// Finding 10: a read-only table over a fresh area does not format it.
TEST(Lifecycle, ReadOnlyTableOverAFreshAreaIsRefused)
{
	Rig rig;
	rig.table.read_only = 1;
	int err;
	const char *error = nullptr;
	Target t = rig.create(&err, &error);
	EXPECT_FALSE(t);
	EXPECT_EQ(err, -kEROFS);
	EXPECT_NE(std::string(error ? error : "").find("read-only"), std::string::npos);
	EXPECT_EQ(rig.disk.writes, 0);
}

// Finding 10: a read-only table over a failing disk writes nothing: failed reads pass
// through, a reread marks nothing lost, a rewrite is refused, messages that change the
// mapping fail with -EROFS, and status and stats say ro.
TEST(Lifecycle, ReadOnlyTableWritesNothing)
{
	Rig rig;
	const Layout &l = rig.layout;
	{
		Target rw = rig.started();
		ASSERT_GE(remap_block(rw.get(), l, 3), 0);
		EXPECT_EQ(words(status_info(rw.get())).back(), "rw");
		rc_target_suspend(rw.get());
	}
	rig.table.read_only = 1;
	rig.disk.writes = 0;
	Target t = rig.started();
	ASSERT_TRUE(t);
	const Mapping before = list_all(t.get());
	EXPECT_EQ(words(status_info(t.get())).back(), "ro");
	EXPECT_EQ(words(status_info(t.get())).size(), 7u);
	EXPECT_EQ(stats(t.get())["mode"], "ro");
	EXPECT_EQ(rc_target_auto_remap(t.get()), 0);

	rig.disk.read_filter = [](int dev, u64) { return dev != RB_DATA_DEV; };
	const rc_failed_io read{10 * l.bs(), 8, -kEIO, 0};
	EXPECT_EQ(rc_target_failed_io(t.get(), &read), RC_VERDICT_PASS);
	const rc_failed_io write{10 * l.bs(), 8, -kEIO, RC_FAILED_WRITE};
	EXPECT_EQ(rc_target_failed_io(t.get(), &write), RC_VERDICT_PASS);
	std::vector<unsigned char> buf(l.block_size);
	EXPECT_NE(rc_target_reread(t.get(), 10 * l.bs(), l.bs(), buf.data(), -kEIO), 0);
	EXPECT_EQ(rewrite_one(t.get(), 10 * l.bs(), l.bs(), buf.data()), -kEROFS);
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(11 * l.bs())).rc, -kEROFS);
	EXPECT_EQ(msg(t.get(), "remap " + std::to_string(11 * l.bs()) + " 4").rc, -kEROFS);
	EXPECT_EQ(msg(t.get(), "unremap " + std::to_string(3 * l.bs())).rc, -kEROFS);
	rc_target_suspend(t.get());
	EXPECT_EQ(rc_target_resume(t.get()), 0);
	rig.disk.read_filter = nullptr;

	EXPECT_EQ(rig.disk.writes, 0);
	EXPECT_EQ(list_all(t.get()), before);
	EXPECT_EQ(stat(t.get(), "lost"), 0u);
	EXPECT_EQ(metadata_state(t.get()), "ok");
	// Reads of the remapped block still go to its spare block.
	EXPECT_EQ(route_of(t.get(), 3 * l.bs()), RC_ROUTE_SPARE);
}

// Finding 2: status, stats and list of the live table are served while a reload resumes
// and takes the old table's mapping over, from threads, as dm does (status runs under the
// live table's SRCU only, never under suspend_lock). Clean under ASan and TSan.
TEST(LifecycleConcurrency, StatusStatsAndListRaceReloadResumes)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target a = rig.started();

	// dm's live-table pointer and its SRCU: a reader announces the table it uses, and the
	// swap waits until no reader uses the old one before it is destroyed.
	constexpr int kReaders = 2;
	std::atomic<rc_target *> live{a.get()};
	std::atomic<rc_target *> in_use[kReaders] = {};
	std::atomic<bool> stop{false};
	std::atomic<u64> calls{0}, bad{0};
	auto reader = [&](int i) {
		while (!stop.load()) {
			rc_target *t = live.load();
			in_use[i].store(t);
			if (live.load() != t) {
				in_use[i].store(nullptr);
				continue;
			}
			// Counted here, checked after: a failing check must not slow the race down.
			const std::vector<std::string> w = words(status_info(t));
			bad += w.size() != 7 || w.back() != "rw";
			Reply s = msg(t, "stats");
			bad += s.rc != 1 || s.text.find(" seq=") == std::string::npos;
			if (i == 0)
				bad += msg(t, "list").rc != 1;
			in_use[i].store(nullptr);
			calls++;
			std::this_thread::yield();
		}
	};
	std::vector<std::thread> threads;
	for (int i = 0; i < kReaders; i++)
		threads.emplace_back(reader, i);

	constexpr int kReloads = 400;
	u64 commits = 0;
	for (int i = 0; i < kReloads; i++) {
		Target b = rig.create(); // the new table loads while a is live
		const u64 block = 10 + i % 40;
		const std::string sector = std::to_string(block * l.bs());
		// a commits after b loaded: b must take that over at its resume.
		if (i % 2 == 0) {
			ASSERT_EQ(msg(a.get(), "remap " + sector).rc, 1);
		} else {
			ASSERT_EQ(
				msg(a.get(), "unremap " + std::to_string((block - 1) * l.bs())).rc,
				0);
		}
		commits++;
		const u64 want_seq = seq(a.get());
		const Mapping want = list_all(a.get());
		rc_target_suspend(a.get());
		live.store(b.get());      // dm_swap_table: b is live, before its preresume,
		for (auto &slot : in_use) // and no reader is left in a (synchronize_srcu)
			while (slot.load() == a.get())
				std::this_thread::yield();
		ASSERT_EQ(rc_target_resume(b.get()), 0); // status and stats of b race this
		a = std::move(b);                        // the old table is destroyed
		ASSERT_EQ(seq(a.get()), want_seq);
		ASSERT_EQ(list_all(a.get()), want);
	}
	stop.store(true);
	for (auto &t : threads)
		t.join();
	EXPECT_GT(calls.load(), 0u);
	EXPECT_EQ(bad.load(), 0u);
	EXPECT_EQ(seq(a.get()), 1 + commits); // the format, then one commit per reload
	EXPECT_EQ(metadata_state(a.get()), "ok");
}

// The same, with the readers racing a same-table suspend/resume and commits of the live
// table: nothing status reads is written without the atomics.
TEST(LifecycleConcurrency, StatusRacesCommitsAndResumes)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target a = rig.started();
	std::atomic<bool> stop{false};
	std::atomic<u64> bad{0};
	std::thread reader([&] {
		while (!stop.load()) {
			bad += words(status_info(a.get())).size() != 7;
			bad += msg(a.get(), "stats").rc != 1;
			bad += msg(a.get(), "clear_stats").rc != 0;
			std::this_thread::yield();
		}
	});
	for (int i = 0; i < 100; i++) {
		const std::string sector = std::to_string((20 + i % 30) * l.bs());
		ASSERT_EQ(msg(a.get(), "remap " + sector).rc, 1);
		rc_target_suspend(a.get());
		ASSERT_EQ(rc_target_resume(a.get()), 0);
		ASSERT_EQ(msg(a.get(), "unremap " + sector).rc, 0);
	}
	stop.store(true);
	reader.join();
	EXPECT_EQ(bad.load(), 0u);
	EXPECT_EQ(stat(a.get(), "remapped"), 0u);
	EXPECT_EQ(seq(a.get()), 201u);
}

// A reload over a grown data device (lvextend, say) with a longer data range keeps every remap
// and lost mark, and the new blocks work; a later create loads the longer range (the first
// commit recorded it), and shrinking back below a block remapped out there is refused.
TEST(Lifecycle, AReloadGrowsTheDataRangeAndKeepsEveryRemap)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target a = rig.started();
	const long long s5 = remap_block(a.get(), l, 5);
	const long long slast = remap_block(a.get(), l, l.data_blocks - 1);
	ASSERT_GE(s5, 0);
	ASSERT_GE(slast, 0);
	const Mapping before = list_all(a.get());

	rc_devices grown = rig.devs;
	grown.target_len += 4 * l.bs(); // the rig's data device has four blocks to spare
	int err;
	std::string error;
	Target b = create_with(rig, rig.table, grown, &err, &error);
	ASSERT_TRUE(b) << error;
	rc_target_suspend(a.get());
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	EXPECT_EQ(list_all(b.get()), before);
	EXPECT_EQ(stat(b.get(), "remapped"), 2u);

	// The new blocks: plain I/O goes to the data device, and they can be remapped.
	const u64 fresh = l.data_blocks + 2;
	const rc_mapping m = map_io(b.get(), fresh * l.bs(), 1);
	EXPECT_EQ(m.route, RC_ROUTE_DATA);
	EXPECT_EQ(m.sector, l.data_offset + fresh * l.bs());
	EXPECT_GE(remap_block(b.get(), l, fresh), 0);
	const Mapping after = list_all(b.get());
	EXPECT_EQ(after.size(), 3u);
	b.reset();
	a.reset();

	// Loaded again with the longer range: all three remaps.
	b = create_with(rig, rig.table, grown, &err, &error);
	ASSERT_TRUE(b) << error;
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	EXPECT_EQ(list_all(b.get()), after);
	b.reset();

	// Back to the old length: block `fresh` would lie past the end.
	b = create_with(rig, rig.table, rig.devs, &err, &error);
	EXPECT_FALSE(b);
	EXPECT_EQ(err, -kEINVAL);
	EXPECT_EQ(error,
		  "The data range cannot shrink: a remapped or lost block lies past its new end");
}

// The same while the old table commits after the new one loaded: the new table loads those
// commits from disk at its resume (the old table's state is sized for its own lengths).
TEST(Lifecycle, AGrowingReloadPicksUpCommitsMadeAfterItsLoad)
{
	Rig rig;
	const Layout &l = rig.layout;
	Target a = rig.started();
	rc_devices grown = rig.devs;
	grown.target_len += 4 * l.bs();
	int err;
	std::string error;
	Target b = create_with(rig, rig.table, grown, &err, &error);
	ASSERT_TRUE(b) << error;
	ASSERT_GE(remap_block(a.get(), l, 7), 0); // after b loaded
	const Mapping before = list_all(a.get());
	rc_target_suspend(a.get());
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	EXPECT_EQ(list_all(b.get()), before);
	EXPECT_GE(remap_block(b.get(), l, l.data_blocks + 3), 0);
}

// The spare area grows in place while its table areas keep their size: the new blocks are
// spare blocks to hand out. Where the table areas would have to grow, the reload is refused
// with a pointer to the admin guide.
TEST(Lifecycle, TheSpareAreaGrowsWhileItsTableAreasFit)
{
	Rig rig; // 100 spare blocks of 4 KiB: T = 1 up to 2 + 254 blocks
	const Layout &l = rig.layout;
	Target a = rig.started();
	const u64 total = stat(a.get(), "spare_total");
	ASSERT_GE(remap_block(a.get(), l, 3), 0);
	rc_table more = rig.table;
	more.spare_len += 4 * l.bs(); // the rig's spare device has four blocks to spare
	int err;
	std::string error;
	Target b = create_with(rig, more, rig.devs, &err, &error);
	ASSERT_TRUE(b) << error;
	rc_target_suspend(a.get());
	ASSERT_EQ(rc_target_resume(b.get()), 0);
	EXPECT_EQ(stat(b.get(), "spare_total"), total + 4);
	EXPECT_EQ(list_all(b.get()).size(), 1u);
	// Every spare block can be handed out, the new ones too, and then no more.
	const u64 left = total + 4 - 1;
	for (u64 blk = 10; blk < 10 + left; blk++)
		ASSERT_GE(remap_block(b.get(), l, blk), 0) << blk;
	EXPECT_EQ(msg(b.get(), "remap " + std::to_string((10 + left) * l.bs())).rc, -kENOSPC);

	Layout small;
	small.block_size = 512;  // E = 28: T = ceil((S - 2) / 30)
	small.spare_blocks = 92; // T = 3; 93 blocks would need T = 4
	Rig rig2(small);
	Target c = rig2.started();
	rc_table t4 = rig2.table;
	t4.spare_len += small.bs();
	Target d = create_with(rig2, t4, rig2.devs, &err, &error);
	EXPECT_FALSE(d);
	EXPECT_EQ(err, -kEINVAL);
	EXPECT_EQ(error,
		  "The spare area cannot grow in place this far: its table areas would have "
		  "to grow (see \"Growing\" in the admin guide)");
}
