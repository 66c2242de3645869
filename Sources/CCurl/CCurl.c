// libcurl, loaded on first use. See include/CCurl.h.
#include "CCurl.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_error = NULL;
static char load_message[512];

static void load(void) {
    // libcurl's soname since 7.16 (Debian's libcurl4); TROVE_LIBCURL names another build or path.
    const char *name = getenv("TROVE_LIBCURL");
    if (name == NULL || *name == 0) name = "libcurl.so.4";
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char *why = dlerror();
        snprintf(load_message, sizeof load_message,
                 "s3:// and azure:// stores need libcurl, which could not be loaded (Debian: apt install libcurl4; "
                 "TROVE_LIBCURL names another library): %s", why ? why : name);
        load_error = load_message;
        return;
    }
    const char *name_for_errors = name;
#define SYM(field, sym) \
    if ((*(void **)&fn.field = dlsym(lib, sym)) == NULL) { \
        snprintf(load_message, sizeof load_message, "%s lacks %s (libcurl 7.68 or later is needed)", name_for_errors, sym); \
        load_error = load_message; \
        return; \
    }
    SYM(global_init, "curl_global_init")
    SYM(easy_init, "curl_easy_init")
    SYM(easy_cleanup, "curl_easy_cleanup")
    SYM(easy_reset, "curl_easy_reset")
    SYM(easy_strerror, "curl_easy_strerror")
    SYM(easy_setopt, "curl_easy_setopt")
    SYM(easy_getinfo, "curl_easy_getinfo")
    SYM(multi_init, "curl_multi_init")
    SYM(multi_cleanup, "curl_multi_cleanup")
    SYM(multi_setopt, "curl_multi_setopt")
    SYM(multi_add_handle, "curl_multi_add_handle")
    SYM(multi_remove_handle, "curl_multi_remove_handle")
    SYM(multi_perform, "curl_multi_perform")
    SYM(multi_poll, "curl_multi_poll")
    SYM(multi_wakeup, "curl_multi_wakeup")
    SYM(multi_info_read, "curl_multi_info_read")
    SYM(slist_append, "curl_slist_append")
    SYM(slist_free_all, "curl_slist_free_all")
#undef SYM
    if (fn.global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        snprintf(load_message, sizeof load_message, "libcurl failed to initialise (curl_global_init)");
        load_error = load_message;
    }
}

const char *trove_curl_load(void) {
    pthread_once(&once, load);
    return load_error;
}

CURL *trove_curl_easy_init(void) { return fn.easy_init(); }
void trove_curl_easy_cleanup(CURL *h) { fn.easy_cleanup(h); }
void trove_curl_easy_reset(CURL *h) { fn.easy_reset(h); }
const char *trove_curl_easy_strerror(CURLcode code) { return fn.easy_strerror(code); }
CURLcode trove_curl_setopt_long(CURL *h, CURLoption o, long v) { return fn.easy_setopt(h, o, v); }
CURLcode trove_curl_setopt_ptr(CURL *h, CURLoption o, void *v) { return fn.easy_setopt(h, o, v); }
CURLcode trove_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return fn.easy_setopt(h, o, v); }
CURLcode trove_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return fn.easy_setopt(h, o, v); }
CURLcode trove_curl_setopt_datacb(CURL *h, CURLoption o, trove_curl_data_cb cb) { return fn.easy_setopt(h, o, cb); }
CURLcode trove_curl_setopt_seekcb(CURL *h, CURLoption o, trove_curl_seek_cb cb) { return fn.easy_setopt(h, o, cb); }
CURLcode trove_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return fn.easy_getinfo(h, i, v); }
CURLcode trove_curl_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return fn.easy_getinfo(h, i, v); }
CURLcode trove_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return fn.easy_getinfo(h, i, v); }
CURLM *trove_curl_multi_init(void) { return fn.multi_init(); }
CURLMcode trove_curl_multi_cleanup(CURLM *m) { return fn.multi_cleanup(m); }
CURLMcode trove_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return fn.multi_setopt(m, o, v); }
CURLMcode trove_curl_multi_add_handle(CURLM *m, CURL *h) { return fn.multi_add_handle(m, h); }
CURLMcode trove_curl_multi_remove_handle(CURLM *m, CURL *h) { return fn.multi_remove_handle(m, h); }
CURLMcode trove_curl_multi_perform(CURLM *m, int *running) { return fn.multi_perform(m, running); }
CURLMcode trove_curl_multi_poll(CURLM *m, int timeout_ms) { return fn.multi_poll(m, NULL, 0, timeout_ms, NULL); }
CURLMcode trove_curl_multi_wakeup(CURLM *m) { return fn.multi_wakeup(m); }
CURLMsg *trove_curl_multi_info_read(CURLM *m, int *left) { return fn.multi_info_read(m, left); }
struct curl_slist *trove_curl_slist_append(struct curl_slist *list, const char *s) { return fn.slist_append(list, s); }
void trove_curl_slist_free_all(struct curl_slist *list) { fn.slist_free_all(list); }
