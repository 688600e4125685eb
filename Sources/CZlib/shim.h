// zlib: only its inflate, for the tests: where it finds block boundaries in raw DEFLATE, DeflateBlocks must too.
#include <zlib.h>

// inflateInit2 is a macro over inflateInit2_; Swift cannot call the macro.
static inline int layerpack_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}
