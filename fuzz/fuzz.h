/* fuzz.h — the libFuzzer entry point every fuzz/fuzz_<name>.c defines. */
#ifndef AS_FUZZ_H
#define AS_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
