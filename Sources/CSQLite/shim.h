#include <sqlite3.h>

/// sqlite3_config is variadic, which Swift cannot call. Turns off SQLite's global memory statistics
/// (a mutex and counters on every allocation); must run before the library is first used.
static inline int trove_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
