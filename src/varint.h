/* Library-internal: the one varint codec of the on-disk formats (block
 * frames, docs/FORMAT.md; ids.db's run pages). Unsigned LEB128: 7 bits a
 * byte, least significant group first, the high bit set on every byte but
 * the last; at most TARN__VARINT_MAX bytes for 64 bits. Signed values go
 * through zigzag first, so that small negative numbers stay short. Both
 * are on disk: their bytes must never change. Rule: LEB128 as in DWARF
 * (DWARF 5, section 7.6); zigzag as in Protocol Buffers' sint64.
 *
 * static inline: every field of every block goes through here on the
 * ingest and read paths. */
#ifndef TARN_VARINT_H
#define TARN_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/error.h"

/* Bytes of the longest varint (UINT64_MAX: nine of 7 bits and one of 1). */
#define TARN__VARINT_MAX 10

/* Write v at p, which has room for TARN__VARINT_MAX bytes; returns the
 * bytes written (1 to 10). Thread-safe. */
static inline size_t tarn__varint_put(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* Read one varint from [*p, end) into *v and move *p past it. Never reads
 * at or past end. TARN_OK; TARN_ECORRUPT when the input ends inside the
 * varint, or it does not fit 64 bits (a tenth byte above 1, or an
 * eleventh byte); then *p and *v are left as they were. Thread-safe. */
static inline int tarn__varint_get(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	const unsigned char *q = *p;
	uint64_t r = 0;
	int shift;

	for (shift = 0; q < end; shift += 7) {
		unsigned char c = *q++;

		/* the tenth byte carries bit 63 alone, and ends the varint */
		if (shift == 63 && c > 1)
			return TARN_ECORRUPT;
		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = r;
			*p = q;
			return TARN_OK;
		}
	}
	return TARN_ECORRUPT;
}

/* Zigzag: a signed value as an unsigned one, 0, -1, 1, -2, ... becoming
 * 0, 1, 2, 3, ...; INT64_MAX gives UINT64_MAX - 1 and INT64_MIN
 * UINT64_MAX. Thread-safe. */
static inline uint64_t tarn__varint_zigzag(int64_t v)
{
	/* v >> 63 is all ones for a negative v (arithmetic shift: gcc and
	 * clang on every target tarn builds for) */
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* The inverse of tarn__varint_zigzag, for every 64-bit value. */
static inline int64_t tarn__varint_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* A bounded reader over [p, end): the reads below never pass end, and set
 * bad (and return 0 or NULL) when the input is short or a varint is bad,
 * so that a decoder may read a run of fields and check bad once. */
struct tarn__reader {
	const unsigned char *p, *end;
	int bad;
};

/* The next varint, or 0 with r->bad set. */
static inline uint64_t tarn__reader_varint(struct tarn__reader *r)
{
	uint64_t v;

	if (tarn__varint_get(&r->p, r->end, &v) != TARN_OK) {
		r->bad = 1;
		return 0;
	}
	return v;
}

/* The next n bytes (borrowed from the input), or NULL with r->bad set. */
static inline const unsigned char *tarn__reader_bytes(struct tarn__reader *r, uint64_t n)
{
	const unsigned char *p = r->p;

	if ((uint64_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	return p;
}

#endif
