/* tarn/headers.h - the stored form of Kafka message headers.
 *
 * tarn keeps a message's headers (Kafka protocol, record headers: an ordered
 * list of (name, value) pairs, names may repeat, a value may be null) as one
 * byte string, the "header block":
 *
 *     repeated { u16 name_len (big-endian) | name bytes |
 *                i32 value_len (big-endian, -1 means a null value) | value bytes }
 *
 * An empty block (0 bytes) means no headers. The block is stored in the
 * shard's `headers` column byte for byte and re-emitted by replay.
 */
#ifndef TARN_HEADERS_H
#define TARN_HEADERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One header, borrowed from a header block. */
typedef struct tarn_header {
	const char *name;  /* not NUL-terminated */
	size_t name_len;   /* bytes, 0..65535 */
	const void *value; /* NULL when the value is null */
	size_t value_len;  /* bytes; 0 when the value is null */
} tarn_header;

/* Iterate a header block.
 *
 * block, len: the header block (may be NULL when len is 0).
 * pos: in/out byte position; start at 0.
 * out: receives the next header, pointing into block.
 * Returns TARN_OK with *out filled, TARN_ENOTFOUND at the end of the block,
 * or TARN_ECORRUPT when a length runs past the end. Thread-safe. */
int tarn_headers_next(const void *block, size_t len, size_t *pos, tarn_header *out);

/* Find the first header named `name` (exact bytes, case-sensitive, as
 * Kafka header names are).
 *
 * name: NUL-terminated. out: receives the header.
 * Returns TARN_OK, TARN_ENOTFOUND, or TARN_ECORRUPT. Thread-safe. */
int tarn_headers_get(const void *block, size_t len, const char *name, tarn_header *out);

/* Append one header to a header block held in a caller-owned, malloc'd
 * buffer that grows with realloc.
 *
 * buf, len, cap: the caller's buffer, its used bytes and its capacity;
 *   *buf may be NULL with *len == *cap == 0. The caller frees *buf.
 * name, name_len: the name, at most 65535 bytes.
 * value, value_len: the value; value NULL means a null value.
 * Returns TARN_OK, TARN_EINVAL (name too long, value over 2^31-1 bytes),
 * or TARN_ENOMEM (the buffer is unchanged). Thread-safe. */
int tarn_headers_append(unsigned char **buf, size_t *len, size_t *cap, const char *name,
			size_t name_len, const void *value, size_t value_len);

#ifdef __cplusplus
}
#endif
#endif
