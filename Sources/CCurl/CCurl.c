// Intentionally empty: all shims are static inline in include/CCurl.h.
#include "CCurl.h"
