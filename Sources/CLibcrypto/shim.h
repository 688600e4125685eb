// OpenSSL libcrypto: SHA-256 and HMAC-SHA256, imported by Sources/Hashing only.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
