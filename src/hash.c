/* tarn's hash functions (hash.h). */
#include <string.h>

#include "hash.h"

#define WORD_MUL1 0xff51afd7ed558ccdull
#define WORD_MUL2 0xc4ceb9fe1a85ec53ull

uint64_t tarn__hash_words(uint64_t start, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = start, w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ (w * WORD_MUL1)) * WORD_MUL2;
		h = (h << 29) | (h >> 35);
	}
	/* the tail, zero-padded; an empty tail still takes a step */
	w = 0;
	if (n > i)
		memcpy(&w, b + i, n - i);
	h = (h ^ (w * WORD_MUL1)) * WORD_MUL2;
	return tarn__hash_mix64(h);
}

uint64_t tarn__hash_bytes(const void *p, size_t n)
{
	return tarn__hash_words(TARN__HASH_GOLDEN * (n + 1), p, n);
}

uint64_t tarn__id_hash(int is_uuid, const unsigned char *id, size_t len)
{
	return tarn__hash_words(TARN__HASH_GOLDEN * (len + 1) ^ (is_uuid ? 0x5555 : 0), id, len);
}

uint64_t tarn__hash_fnv1a64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
