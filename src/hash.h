/* Library-internal: tarn's hash functions, in one place. Some of their
 * values are written to disk (the id hash in ids.db's runs, FNV-1a in
 * quarantine.db's payload_hash), so each says whether it may ever change;
 * tests/unit/test_hash.c pins the values of each.
 *
 * The word hash reads its input eight bytes at a time as little-endian
 * words (memcpy into a uint64_t): on a big-endian host its values would
 * differ, and ids.db would not move between the two. */
#ifndef TARN_HASH_H
#define TARN_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 2^64 divided by the golden ratio, odd: splitmix64's increment, and the
 * multiplier that spreads a length or a counter over all 64 bits before
 * mixing. Part of persisted hash values: never change. */
#define TARN__HASH_GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's finaliser: a bijection of 64-bit values in which every
 * input bit changes each output bit with probability about 1/2 (0 maps to
 * 0). For spreading a hash or counter before it picks bits or slots. Its
 * values reach ids.db through the id hash: never change. Rule: Steele,
 * Lea, Flood, "Fast splittable pseudorandom number generators" (OOPSLA
 * 2014), with the constants of Vigna's splitmix64.c. Inline: the id
 * filter calls it on every lookup. Thread-safe. */
static inline uint64_t tarn__hash_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 64-bit hash of the n bytes at p (NULL only when n is 0), from the
 * starting value start (a seed, or the input's length spread by
 * TARN__HASH_GOLDEN): eight bytes a step, each little-endian word
 * multiplied in and the state rotated, the tail zero-padded into one last
 * word, finished by tarn__hash_mix64. Not cryptographic; keyed by a secret
 * start it resists collisions aimed from outside as long as the start is
 * not known. Persisted through tarn__id_hash: never change. tarn's own
 * rule (the multipliers are MurmurHash3's fmix64 constants). Thread-safe. */
uint64_t tarn__hash_words(uint64_t start, const void *p, size_t n);

/* 64-bit hash of the n bytes at p (NULL only when n is 0), not keyed: for
 * in-memory tables (gold's). The word hash from TARN__HASH_GOLDEN *
 * (n + 1). Not persisted today, but equal to tarn__id_hash of a text id,
 * so it does not change either. Thread-safe. */
uint64_t tarn__hash_bytes(const void *p, size_t n);

/* 64-bit hash of an event id: is_uuid says whether id holds a UUID's 16
 * bytes (1) or a text id's len bytes (0), so that the two kinds never
 * share a hash by construction of their bytes alone. The key of the id
 * index: its upper 40 bits are written to ids.db's runs and the filter is
 * built from them, so its values must never change (existing lakes would
 * stop finding their ids). The word hash from TARN__HASH_GOLDEN * (len +
 * 1), xor 0x5555 for a UUID. Thread-safe. */
uint64_t tarn__id_hash(int is_uuid, const unsigned char *id, size_t len);

/* FNV-1a, 64 bits, of the n bytes at p (NULL only when n is 0): offset
 * basis 0xcbf29ce484222325, prime 0x100000001b3, xor then multiply a byte
 * a step. Written to quarantine.db's payload_hash (as a signed 64-bit
 * integer) to index re-deliveries: never change. Rule: the FNV hash of
 * Fowler, Noll and Vo (IETF draft-eastlake-fnv). Thread-safe. */
uint64_t tarn__hash_fnv1a64(const void *p, size_t n);

#endif
