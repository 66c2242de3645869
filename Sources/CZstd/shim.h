#include <zstd.h>
/* ZDICT_trainFromBuffer_fastCover (one pass with fixed parameters) is exported by libzstd but
   declared only under ZDICT_STATIC_LINKING_ONLY. */
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
