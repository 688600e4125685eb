// libdeflate: whole-buffer raw DEFLATE compression and CRC-32, used for parallel compression.
#include <libdeflate.h>
