#ifndef TROVE_CCURL_H
#define TROVE_CCURL_H
#include <curl/curl.h>

// libcurl is loaded on first use (dlopen), not linked: it and the ~25 libraries it pulls in cost
// ~6 ms at every process start, and only cloud stores (s3://, azure://) need them. The header gives the types and
// constants; every function Trove calls goes through these wrappers. libcurl's setopt/getinfo are
// also variadic, which Swift cannot call, hence the typed variants.

/// Loads libcurl (once, thread-safe) and initialises it. Returns NULL when it is ready, otherwise a
/// message saying why it could not be loaded (static storage; do not free).
const char *trove_curl_load(void);

CURL *trove_curl_easy_init(void);
void trove_curl_easy_cleanup(CURL *h);
void trove_curl_easy_reset(CURL *h);
const char *trove_curl_easy_strerror(CURLcode code);
CURLcode trove_curl_setopt_long(CURL *h, CURLoption o, long v);
CURLcode trove_curl_setopt_ptr(CURL *h, CURLoption o, void *v);
CURLcode trove_curl_setopt_str(CURL *h, CURLoption o, const char *v);
CURLcode trove_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v);
CURLcode trove_curl_getinfo_long(CURL *h, CURLINFO i, long *v);
CURLcode trove_curl_getinfo_ptr(CURL *h, CURLINFO i, void **v);
CURLcode trove_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v);

typedef size_t (*trove_curl_data_cb)(char *, size_t, size_t, void *);
CURLcode trove_curl_setopt_datacb(CURL *h, CURLoption o, trove_curl_data_cb cb);
typedef int (*trove_curl_seek_cb)(void *, curl_off_t, int);
CURLcode trove_curl_setopt_seekcb(CURL *h, CURLoption o, trove_curl_seek_cb cb);

CURLM *trove_curl_multi_init(void);
CURLMcode trove_curl_multi_cleanup(CURLM *m);
CURLMcode trove_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v);
CURLMcode trove_curl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode trove_curl_multi_remove_handle(CURLM *m, CURL *h);
CURLMcode trove_curl_multi_perform(CURLM *m, int *running);
CURLMcode trove_curl_multi_poll(CURLM *m, int timeout_ms);
CURLMcode trove_curl_multi_wakeup(CURLM *m);
CURLMsg *trove_curl_multi_info_read(CURLM *m, int *left);

struct curl_slist *trove_curl_slist_append(struct curl_slist *list, const char *s);
void trove_curl_slist_free_all(struct curl_slist *list);

// The parts of CURLMsg that Swift needs, without touching its union from Swift.
static inline CURL *trove_curl_msg_done(CURLMsg *m, CURLcode *result) {
    if (m == NULL || m->msg != CURLMSG_DONE) return NULL;
    *result = m->data.result;
    return m->easy_handle;
}
#endif
