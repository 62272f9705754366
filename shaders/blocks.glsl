// Readers of GGUF block-format bytes in a storage buffer of 32-bit words (`buf`, passed
// by name): block sizes (18, 34, 210 bytes) leave fields at any byte offset and 8-bit
// storage is not everywhere. Layouts: ggml-like/src/quants/blocks.h.
#define BLOCK_BYTE(buf, i) ((buf[(i) >> 2] >> (((i) & 3u) * 8u)) & 0xFFu)
#define BLOCK_SBYTE(buf, i) (int(BLOCK_BYTE(buf, i) << 24) >> 24)
// an fp16 at an even byte offset
#define BLOCK_HALF(buf, i) unpackHalf2x16((buf[(i) >> 2] >> (((i) & 2u) * 8u)) & 0xFFFFu).x

// Element k of a row of blocks starting at byte `row`.
// Q8_0, 34 bytes: d, 32 x int8.
#define Q8_0_ELEM(buf, row, k) \
    (BLOCK_HALF(buf, (row) + ((k) / 32u) * 34u) * float(BLOCK_SBYTE(buf, (row) + ((k) / 32u) * 34u + 2u + (k) % 32u)))
// Q4_0, 18 bytes: d, 16 bytes holding element j in the low nibble of byte j, j + 16 in the high.
#define Q4_0_ELEM(buf, row, k) \
    (BLOCK_HALF(buf, (row) + ((k) / 32u) * 18u) * \
     (float((BLOCK_BYTE(buf, (row) + ((k) / 32u) * 18u + 2u + ((k) & 15u)) >> ((((k) % 32u) >> 4) * 4u)) & 15u) - 8.0))
