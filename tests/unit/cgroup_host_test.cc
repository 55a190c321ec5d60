// Detection of the host's cgroups from /proc texts, with the filesystem
// probes faked: no cgroup is touched.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "sandbox/cgroup.h"
#include "sandbox/cgroup_fs.h"

namespace smol::sandbox {
namespace {

using namespace cgroupfs;

// This machine: v1 controllers, an empty v2 tree at /sys/fs/cgroup/unified,
// and the memory cgroup set by whatever started the process.
constexpr const char* kHybridMountinfo =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr const char* kHybridCgroup =
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n4:memory:/process_api/6aa7\n"
    "2:cpuacct:/\n1:cpu:/\n0::/\n";

// A modern host: one cgroup2 mount, the daemon a systemd service.
constexpr const char* kV2Mountinfo =
    "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

// Files and delegated directories of a fake filesystem.
HostProbe fake_probe(std::map<std::string, std::string> files, std::set<std::string> delegated = {}) {
  HostProbe p;
  p.read = [files](const std::string& path) -> std::optional<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
  p.delegated = [delegated](const std::string& dir) { return delegated.count(dir) > 0; };
  return p;
}

TEST(CgroupParse, MountinfoYieldsOnlyCgroupMountsWithTheirControllers) {
  auto mounts = parse_cgroup_mounts(kHybridMountinfo);
  ASSERT_EQ(mounts.size(), 8u);
  EXPECT_EQ(mounts[0].mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(mounts[0].fstype, "cgroup");
  EXPECT_EQ(mounts[0].super_options, (std::vector<std::string>{"rw", "cpu"}));
  EXPECT_EQ(mounts[7].fstype, "cgroup2");
  EXPECT_EQ(mounts[7].root, "/");
}

TEST(CgroupParse, MountinfoUnescapesPathsAndSkipsOptionalFields) {
  auto mounts = parse_cgroup_mounts(
      "50 30 0:40 /docker/abc /my\\040cgroups/memory rw shared:9 master:2 - cgroup cg rw,memory\n");
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].mount_point, "/my cgroups/memory");
  EXPECT_EQ(mounts[0].root, "/docker/abc");
}

TEST(CgroupParse, ProcCgroupSplitsControllersAndPaths) {
  auto lines = parse_proc_cgroup(kHybridCgroup);
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[0].controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_EQ(lines[4].id, 4);
  EXPECT_EQ(lines[4].path, "/process_api/6aa7");
  EXPECT_EQ(lines[7].id, 0);
  EXPECT_TRUE(lines[7].controllers.empty());
}

TEST(CgroupParse, KeyedFilesGiveNumbersByKey) {
  std::string events = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
  EXPECT_EQ(keyed_value(events, "oom_kill"), 1u);
  EXPECT_EQ(keyed_value(events, "max"), 3u);
  EXPECT_EQ(keyed_value(events, "oom_kil"), std::nullopt);
  EXPECT_EQ(keyed_value("max max\n", "max"), std::nullopt);
}

TEST(CgroupDetect, HybridHostWithEmptyUnifiedTreeIsV1NestedUnderOwnCgroups) {
  auto host = choose_cgroup_host(kHybridMountinfo, kHybridCgroup,
                                 fake_probe({{"/sys/fs/cgroup/unified/cgroup.controllers", "\n"}}));
  EXPECT_EQ(host.version, CgroupVersion::v1);
  ASSERT_EQ(host.hierarchies.size(), 6u);
  EXPECT_EQ(host.hierarchies[0].mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(host.hierarchies[0].own, "/sys/fs/cgroup/memory/process_api/6aa7");
  EXPECT_EQ(host.hierarchies[1].controllers, (std::vector<std::string>{"pids"}));
  EXPECT_EQ(host.hierarchies[1].own, "/sys/fs/cgroup/pids");
  EXPECT_EQ(host.hierarchies[4].controllers, (std::vector<std::string>{"cpuacct"}));
  EXPECT_EQ(host.hierarchies[5].controllers, (std::vector<std::string>{"blkio"}));
  EXPECT_TRUE(host.delegated.empty());
}

TEST(CgroupDetect, CoMountedCpuAndCpuacctShareOneHierarchy) {
  std::string mi =
      "1 0 0:1 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "2 0 0:2 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
      "3 0 0:3 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "4 0 0:4 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n";
  auto host = choose_cgroup_host(mi, "5:memory:/\n4:pids:/\n3:cpu,cpuacct:/\n2:freezer:/\n",
                                 fake_probe({}));
  ASSERT_EQ(host.hierarchies.size(), 4u);
  EXPECT_EQ(host.hierarchies[2].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(host.hierarchies[2].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
}

TEST(CgroupDetect, V1InsideAContainerUsesTheMountRoot) {
  std::string mi =
      "1 0 0:1 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "2 0 0:2 /docker/c1 /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
      "3 0 0:3 /docker/c1 /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
      "4 0 0:4 /docker/c1 /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n";
  auto host = choose_cgroup_host(
      mi, "5:memory:/docker/c1\n4:pids:/docker/c1/x\n3:cpu:/docker/c1\n2:freezer:/docker/c1\n",
      fake_probe({}));
  EXPECT_EQ(host.hierarchies[0].own, "/sys/fs/cgroup/memory");
  EXPECT_EQ(host.hierarchies[1].own, "/sys/fs/cgroup/pids/x");
}

TEST(CgroupDetect, V2WithControllersWins) {
  auto host = choose_cgroup_host(
      kV2Mountinfo, "0::/user.slice/session-1.scope\n",
      fake_probe({{"/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n"}}));
  EXPECT_EQ(host.version, CgroupVersion::v2);
  ASSERT_EQ(host.hierarchies.size(), 1u);
  EXPECT_EQ(host.hierarchies[0].controllers,
            (std::vector<std::string>{"memory", "pids", "cpu", "io"}));
  EXPECT_EQ(host.hierarchies[0].own, "/sys/fs/cgroup/user.slice/session-1.scope");
  EXPECT_TRUE(host.delegated.empty());
}

TEST(CgroupDetect, V2UnderSystemdDelegationUsesTheUnitsCgroup) {
  const std::string unit = "/sys/fs/cgroup/system.slice/swarmd.service";
  auto probe = fake_probe({{"/sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n"},
                           {unit + "/cgroup.controllers", "memory pids\n"}},
                          {unit});
  auto host = choose_cgroup_host(kV2Mountinfo, "0::/system.slice/swarmd.service\n", probe);
  EXPECT_EQ(host.delegated, unit);
  // Only what systemd passed down counts.
  EXPECT_EQ(host.hierarchies[0].controllers, (std::vector<std::string>{"memory", "pids"}));

  // Once the daemon has moved itself into its leaf, the same is found.
  auto again = choose_cgroup_host(kV2Mountinfo, "0::/system.slice/swarmd.service/daemon\n", probe);
  EXPECT_EQ(again.delegated, unit);
  EXPECT_EQ(again.hierarchies[0].own, unit + "/daemon");
}

TEST(CgroupDetect, NothingUsableSaysWhatEachVersionLacks) {
  std::string mi =
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
  try {
    choose_cgroup_host(mi, "4:memory:/\n0::/\n",
                       fake_probe({{"/sys/fs/cgroup/unified/cgroup.controllers", ""}}));
    FAIL() << "found a backend";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(),
                 "no usable cgroups: cgroup2 at /sys/fs/cgroup/unified has no memory and pids "
                 "controllers; cgroup v1 has no pids, cpu, freezer hierarchy");
  }
}

TEST(CgroupRules, CpuCoresBecomeAQuotaPerTenthOfASecond) {
  EXPECT_EQ(cpu_quota_usec(1.5), 150000u);
  EXPECT_EQ(cpu_quota_usec(0.01), 1000u);
  EXPECT_THROW(cpu_quota_usec(0.001), std::invalid_argument);
  EXPECT_THROW(cpu_quota_usec(-1), std::invalid_argument);
}

TEST(CgroupRules, ChildNamesCannotEscapeOrCollideWithControlFiles) {
  EXPECT_NO_THROW(check_child_name("greeter-0"));
  EXPECT_NO_THROW(check_child_name("hello_world.v2@x:1"));
  for (const char* bad : {"", ".", "..", "../x", "a/b", ".hidden", "a b", "x\n"}) {
    EXPECT_THROW(check_child_name(bad), std::invalid_argument) << bad;
  }
  EXPECT_THROW(check_child_name(std::string(201, 'a')), std::invalid_argument);
}

}  // namespace
}  // namespace smol::sandbox
