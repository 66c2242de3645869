#ifndef TROVE_CCURL_H
#define TROVE_CCURL_H
#include <curl/curl.h>

// libcurl's curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call.
// These typed wrappers are the whole shim.
static inline CURLcode trove_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode trove_curl_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode trove_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode trove_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode trove_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode trove_curl_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode trove_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

typedef size_t (*trove_curl_data_cb)(char *, size_t, size_t, void *);
static inline CURLcode trove_curl_setopt_datacb(CURL *h, CURLoption o, trove_curl_data_cb cb) { return curl_easy_setopt(h, o, cb); }

typedef int (*trove_curl_seek_cb)(void *, curl_off_t, int);
static inline CURLcode trove_curl_setopt_seekcb(CURL *h, CURLoption o, trove_curl_seek_cb cb) { return curl_easy_setopt(h, o, cb); }
static inline CURLcode trove_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }

// The parts of CURLMsg that Swift needs, without touching its union from Swift.
static inline CURL *trove_curl_msg_done(CURLMsg *m, CURLcode *result) {
    if (m == NULL || m->msg != CURLMSG_DONE) return NULL;
    *result = m->data.result;
    return m->easy_handle;
}
#endif
