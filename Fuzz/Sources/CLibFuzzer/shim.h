#include <stddef.h>
#include <stdint.h>

// Runs libFuzzer with `callback` as the target, for programs that keep their own `main` (libFuzzer's
// own `main` needs a C symbol `LLVMFuzzerTestOneInput`). Defined in compiler-rt's libFuzzer.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
