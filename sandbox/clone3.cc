#include "sandbox/clone3.h"

#include <sys/syscall.h>

#include <cerrno>

namespace smol::sandbox {

#if defined(__x86_64__) && defined(SYS_clone3)

extern "C" long smol_clone3_entry(clone_args* args, unsigned long size, int (*fn)(void*),
                                  void* arg);

// rdi = args, rsi = size, rdx = fn, rcx = arg. fn and arg are kept in r12
// and r13, which the child inherits (it starts with the parent's registers,
// but rax = 0 and rsp at the top of its new stack). r12 and r13 belong to
// the caller, so the parent saves and restores them. The child never
// returns: fn's result is its exit status. Its rsp is 16-byte aligned
// (stack + stack_size), so after the call pushes the return address fn
// sees the alignment the ABI promises.
asm(R"(
  .text
  .globl smol_clone3_entry
  .type smol_clone3_entry, @function
smol_clone3_entry:
  .cfi_startproc
  push %r12
  .cfi_adjust_cfa_offset 8
  push %r13
  .cfi_adjust_cfa_offset 8
  mov %rdx, %r12
  mov %rcx, %r13
  mov $435, %eax
  syscall
  test %rax, %rax
  jz 1f
  pop %r13
  .cfi_adjust_cfa_offset -8
  pop %r12
  .cfi_adjust_cfa_offset -8
  ret
1:
  .cfi_undefined rip
  xor %ebp, %ebp
  mov %r13, %rdi
  call *%r12
  mov %eax, %edi
  mov $60, %eax
  syscall
  hlt
  .cfi_endproc
  .size smol_clone3_entry, .-smol_clone3_entry
)");

static_assert(SYS_clone3 == 435 && SYS_exit == 60, "the entry hard-codes these numbers");

pid_t clone3_run(clone_args* args, int (*fn)(void*), void* arg) noexcept {
  long r = smol_clone3_entry(args, sizeof *args, fn, arg);
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return static_cast<pid_t>(r);
}

#else

pid_t clone3_run(clone_args*, int (*)(void*), void*) noexcept {
  errno = ENOSYS;
  return -1;
}

#endif

}  // namespace smol::sandbox
