// probe-perf-event-open: perf_event_open of a software counter on itself.
// perf events leak kernel addresses and timing, and have a long exploit
// history.
// ESCAPED: perf_event_open returned an fd.
// Confined: killed, seccomp violation "perf_event_open" (always denied).
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  struct perf_event_attr attr = {0};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.disabled = 1;
  long fd = probe_try("perf_event_open",
                      syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  probe_escaped("perf_event_open returned fd %ld", fd);
}
