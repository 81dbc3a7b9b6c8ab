// dmremap udev-probe on images, with the properties udev would have imported by then (from
// `blkid -p -o udev`, as 60-persistent-storage.rules imports them): which devices it claims,
// with which role and name, and that a claimed device exports no file-system identity.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "cli_run.h"

namespace {

const char *const kUdevProps[] = {"ID_FS_UUID",
				  "ID_FS_UUID_ENC",
				  "ID_FS_LABEL",
				  "ID_FS_LABEL_ENC",
				  "ID_FS_TYPE",
				  "ID_FS_USAGE",
				  "ID_FS_VERSION",
				  "ID_PART_ENTRY_UUID",
				  "ID_PART_ENTRY_NAME",
				  "DM_UUID",
				  "DM_NAME",
				  "DEVLINKS",
				  "DEVTYPE",
				  "DMREMAP_MEMBER"};

std::string run(const std::string &cmd)
{
	FILE *p = popen(cmd.c_str(), "r");
	std::string text;
	char buf[512];
	while (p && fgets(buf, sizeof(buf), p))
		text += buf;
	if (p)
		pclose(p);
	return text;
}

class UdevProbe : public ::testing::Test {
protected:
	void SetUp() override
	{
		char dir[] = "/tmp/dmremap-probe.XXXXXX";
		ASSERT_NE(mkdtemp(dir), nullptr);
		dir_ = dir;
		clear();
		data_ = dir_ + "/data.img";
		spare_ = dir_ + "/spare.img";
		other_ = dir_ + "/other.img";
		ASSERT_EQ(std::system(("truncate -s 64M " + data_ + " " + spare_ + " " + other_ +
				       " && mkfs.ext4 -q -F -L precious " + data_ +
				       " && mkfs.ext4 -q -F " + other_)
					      .c_str()),
			  0);
		uuid_ = run("blkid -p -s UUID -o value " + data_);
		while (!uuid_.empty() && uuid_.back() == '\n')
			uuid_.pop_back();
		ASSERT_EQ(uuid_.size(), 36u);
	}
	void TearDown() override
	{
		clear();
		std::system(("rm -rf " + dir_).c_str());
	}
	void clear()
	{
		for (const char *p : kUdevProps)
			unsetenv(p);
	}
	// The properties udev's blkid builtin gives the image.
	void udev_env(const std::string &image)
	{
		clear();
		std::istringstream in(run("blkid -p -o udev " + image));
		std::string line;
		while (std::getline(in, line)) {
			const size_t eq = line.find('=');
			if (eq != std::string::npos)
				setenv(line.substr(0, eq).c_str(), line.substr(eq + 1).c_str(), 1);
		}
	}
	std::string tab(const std::string &text)
	{
		const std::string path = dir_ + "/tab";
		std::ofstream(path) << text;
		return path;
	}
	CliRun probe(const std::string &image, const std::string &tab_path,
		     const std::string &links = "")
	{
		udev_env(image);
		std::vector<std::string> w = {"udev-probe", image, "--tab", tab_path};
		if (!links.empty())
			w.insert(w.end(), {"--links", links});
		return cli(w);
	}

	std::string dir_, data_, spare_, other_, uuid_;
};

const char kClaimTail[] = "SYSTEMD_READY=0\nUDISKS_IGNORE=1\n";
const char kNoIdentity[] =
	"ID_FS_TYPE=\nID_FS_USAGE=\nID_FS_VERSION=\nID_FS_UUID=\nID_FS_UUID_ENC=\n"
	"ID_FS_UUID_SUB=\nID_FS_UUID_SUB_ENC=\nID_FS_LABEL=\nID_FS_LABEL_ENC=\n";

TEST_F(UdevProbe, DataByUuidIsClaimedWithoutItsIdentity)
{
	const std::string t = tab("safe UUID=" + uuid_ + " /dev/disk/by-id/spare-x\n");
	const CliRun r = probe(data_, t,
			       "disk/by-id/virtio-d disk/by-uuid/" + uuid_ +
				       " disk/by-label/precious disk/by-path/pci-1");
	ASSERT_EQ(r.status, 0) << r.err;
	// The file system's links go (they belong to /dev/mapper/safe), the member link comes.
	EXPECT_EQ(r.out,
		  "DMREMAP_MEMBER=data\nDMREMAP_NAME=safe\n" + std::string(kClaimTail) +
			  "DMREMAP_LINKS=disk/by-id/virtio-d disk/by-path/pci-1 "
			  "disk/dmremap/safe/data\n" +
			  kNoIdentity);
	// Another file system, and the dm-remap device itself (same UUID), are left alone.
	EXPECT_EQ(probe(other_, t).out, "");
	udev_env(data_);
	setenv("DM_UUID", "DMREMAP-safe", 1);
	EXPECT_EQ(cli({"udev-probe", "/dev/dm-0", "--tab", t}).out, "");
	unsetenv("DM_UUID");
	setenv("DM_NAME", "safe", 1); // made by `dmremap create safe`, no uuid
	EXPECT_EQ(cli({"udev-probe", "/dev/dm-0", "--tab", t, "--no-metadata-probe"}).out, "");
}

TEST_F(UdevProbe, PartitionTagsLabelsAndLinks)
{
	const std::string t = tab("a PARTUUID=ABCDEF01-02 PARTLABEL=remap-spare\n"
				  "b LABEL=precious /dev/disk/by-id/virtio-spare2\n");
	udev_env(other_);
	setenv("ID_PART_ENTRY_UUID", "abcdef01-02", 1);
	CliRun r = cli({"udev-probe", other_, "--tab", t});
	EXPECT_EQ(r.out.rfind("DMREMAP_MEMBER=data\nDMREMAP_NAME=a\n", 0), 0u) << r.out;
	setenv("ID_PART_ENTRY_UUID", "abcdef01-03", 1);
	setenv("ID_PART_ENTRY_NAME", "remap-spare", 1);
	r = cli({"udev-probe", other_, "--tab", t});
	EXPECT_EQ(r.out.rfind("DMREMAP_MEMBER=spare\nDMREMAP_NAME=a\n", 0), 0u) << r.out;
	// LABEL= of the file system.
	r = probe(data_, t);
	EXPECT_EQ(r.out.rfind("DMREMAP_MEMBER=data\nDMREMAP_NAME=b\n", 0), 0u) << r.out;
	// A by-id path matched through udev's $links (the link does not exist yet).
	r = probe(other_, t, "disk/by-path/pci-0 disk/by-id/virtio-spare2");
	EXPECT_EQ(r.out.rfind("DMREMAP_MEMBER=spare\nDMREMAP_NAME=b\n", 0), 0u) << r.out;
	// ... or through DEVLINKS, or as the node itself.
	udev_env(other_);
	setenv("DEVLINKS", "/dev/disk/by-id/virtio-spare2 /dev/disk/by-path/x", 1);
	EXPECT_EQ(cli({"udev-probe", other_, "--tab", t}).out.rfind("DMREMAP_MEMBER=spare\n", 0),
		  0u);
	EXPECT_EQ(probe(other_, tab("c " + other_ + " /dev/vdz\n"))
			  .out.rfind("DMREMAP_MEMBER=data\n"
				     "DMREMAP_NAME=c\n",
				     0),
		  0u);
}

TEST_F(UdevProbe, SpareAreaRecognisedByItsMetadata)
{
	const std::string none = tab("");
	EXPECT_EQ(probe(spare_, none).out, ""); // all zero: nothing to recognise
	const CliRun f = cli({"format", spare_, "--data-len", "131072", "--yes"});
	ASSERT_EQ(f.status, 0) << f.err;
	CliRun r = probe(spare_, none, "disk/by-id/x");
	EXPECT_EQ(r.out,
		  "DMREMAP_MEMBER=spare\n" + std::string(kClaimTail) +
			  "DMREMAP_LINKS=disk/by-id/x\n" + kNoIdentity);
	r = cli({"udev-probe", spare_, "--tab", none, "--no-metadata-probe"});
	EXPECT_EQ(r.out, "");
	// A device that does not open is not claimed, and not an error.
	r = cli({"udev-probe", dir_ + "/gone", "--tab", none});
	EXPECT_EQ(r.status, 0);
	EXPECT_EQ(r.out, "");
}

TEST_F(UdevProbe, APartitionOfAClaimedDiskIsClaimed)
{
	const std::string none = tab("");
	udev_env(data_);
	setenv("DEVTYPE", "partition", 1);
	setenv("DMREMAP_MEMBER", "data", 1); // imported from the disk by the rule
	CliRun r = cli({"udev-probe", data_, "--tab", none, "--links", "disk/by-uuid/" + uuid_});
	unsetenv("DEVTYPE");
	unsetenv("DMREMAP_MEMBER");
	EXPECT_EQ(r.out,
		  "DMREMAP_MEMBER=data\n" + std::string(kClaimTail) + "DMREMAP_LINKS=\n" +
			  kNoIdentity);
	// Without the parent's claim, the same partition is not claimed.
	udev_env(data_);
	setenv("DEVTYPE", "partition", 1);
	r = cli({"udev-probe", data_, "--tab", none});
	unsetenv("DEVTYPE");
	EXPECT_EQ(r.out, "");
}

TEST_F(UdevProbe, MalformedLinesClaimNothing)
{
	const std::string t = tab("safe UUID=" + uuid_ + " /dev/vdc bogus\n");
	EXPECT_EQ(probe(data_, t).out, "");
}

} // namespace
