// zlib: only its inflate, to find the block boundaries in raw DEFLATE that libdeflate wrote.
#include <zlib.h>

// inflateInit2 is a macro over inflateInit2_; Swift cannot call the macro.
static inline int layerpack_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}
