/* The floor's child: tells its parent it is up with one byte on fd 3, then
 * waits for the parent to hang up. As little as a process can do. */
#include <unistd.h>

int main(void) {
  char c = '!';
  if (write(3, &c, 1) != 1) return 1;
  while (read(3, &c, 1) > 0) {
  }
  return 0;
}
