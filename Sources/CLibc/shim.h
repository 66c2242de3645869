// libc functions Swift's Glibc module does not export (GNU extensions it hides), declared as glibc
// defines them. No library to link: they are in libc.
#include <stddef.h>

/// The first occurrence of `needle` in `haystack` (glibc's vectorised two-way search), or NULL.
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
