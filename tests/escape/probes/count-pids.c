// probe-count-pids: does /proc show any process that is neither the probe
// nor one of its ancestors?
// ESCAPED: it does; prints how many and the first.
// BLOCKED ESRCH ("no such process", the errno that says it best): none.
// Confined: BLOCKED ESRCH: the agent's fresh /proc shows its own PID
// namespace, in which the probe is alone with its ancestors.
#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <unistd.h>

#include "probe.h"

enum { kMaxAncestors = 64 };

static long parent_of(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE* f = fopen(path, "re");
  if (!f) return 0;
  long ppid = 0;
  // "pid (comm) state ppid": comm may hold spaces and ')', so skip to the last ')'.
  char line[1024];
  if (fgets(line, sizeof line, f)) {
    char* end = strrchr(line, ')');
    if (end) sscanf(end + 1, " %*c %ld", &ppid);
  }
  fclose(f);
  return ppid;
}

int main(void) {
  long ancestors[kMaxAncestors];
  int n_ancestors = 0;
  for (long p = getpid(); p > 0 && n_ancestors < kMaxAncestors; p = parent_of(p)) {
    ancestors[n_ancestors++] = p;
  }
  DIR* proc = opendir("/proc");
  if (!proc) probe_setup("opendir /proc: %s", strerror(errno));
  long others = 0, first = 0;
  for (struct dirent* e; (e = readdir(proc));) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    long pid = strtol(e->d_name, NULL, 10);
    bool mine = false;
    for (int i = 0; i < n_ancestors; ++i) mine = mine || ancestors[i] == pid;
    if (mine) continue;
    if (others++ == 0) first = pid;
  }
  if (others == 0) probe_blocked("readdir /proc (no other process)", ESRCH);
  probe_escaped("/proc shows %ld processes besides the probe and its ancestors (first: %ld)",
                others, first);
}
