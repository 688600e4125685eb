// libcurl, imported by Sources/AWSClient/HTTP only.
//
// curl_easy_setopt and curl_easy_getinfo are variadic C functions, which Swift cannot call.
// Each wrapper below passes exactly one argument type, so Swift sees ordinary typed functions.
#include <curl/curl.h>

static inline CURLcode lp_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lp_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lp_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lp_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lp_curl_setopt_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*lp_curl_data_callback)(char *buffer, size_t size, size_t count, void *context);
static inline CURLcode lp_curl_setopt_data_callback(CURL *handle, CURLoption option, lp_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lp_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode lp_curl_getinfo_offset(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}
