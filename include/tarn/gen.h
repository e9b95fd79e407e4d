/* tarn/gen.h - the synthetic event producer's generator.
 *
 * Deterministic for a given seed: the same options give the same events,
 * byte for byte. Events look like a small web product's:
 *   {"event_id":"<UUIDv4>","user_id":"user_0042","event_type":"click",
 *    "page":"/products","timestamp":"2026-11-20T10:15:30.123Z","source":"web"}
 * - event_id: an RFC 4122 version-4 UUID built from the generator's PRNG
 *   (version and variant bits set as RFC 4122 section 4.4 says) and written
 *   with libuuid's uuid_unparse_lower;
 * - a user base that grows over the days (about 100 users on the first day,
 *   110+ by the last), most events from a core of active users;
 * - event_type frequencies click > login > logout > purchase;
 * - source web more often than mobile;
 * - timestamp RFC 3339 UTC with milliseconds, non-decreasing per day,
 *   spread over [start, start + days).
 * With dup_rate F, about F of the events are emitted a second time, later
 * in the stream and byte-identical (a re-delivery).
 */
#ifndef TARN_GEN_H
#define TARN_GEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tarn_gen tarn_gen;

typedef struct tarn_gen_options {
	uint64_t seed;	  /* PRNG seed; default 1 */
	uint64_t count;	  /* unique events to generate; default 1000 */
	int64_t start_us; /* first instant, microseconds since the epoch, UTC;
			     default 0 means "today 00:00Z minus days" */
	int days;	  /* days covered, >= 1; default 3 */
	double dup_rate;  /* fraction 0.0..1.0 re-sent later; default 0 */
	int headers_only; /* 1: the payload has no event_id and no timestamp
			     (they travel in headers and the Kafka timestamp);
			     default 0 */
} tarn_gen_options;

#define TARN_GEN_OPTIONS_INIT                                                                      \
	{                                                                                          \
		1, 1000, 0, 3, 0.0, 0                                                              \
	}

/* One generated event; every pointer is borrowed from the generator and
 * valid until the next tarn_gen_next or tarn_gen_free. */
typedef struct tarn_gen_event {
	const char *payload;	/* JSON object text, NUL-terminated */
	size_t payload_len;	/* bytes, without the NUL */
	const char *event_id;	/* 36-char UUID text */
	const char *user_id;	/* the message key */
	const char *event_type; /* login|click|purchase|logout; also the event_name header */
	int64_t time_us;	/* the timestamp field, microseconds since the epoch */
	int is_duplicate;	/* 1 when this is a re-send of an earlier event */
} tarn_gen_event;

/* Create a generator.
 *
 * out: receives the generator; the caller frees it with tarn_gen_free.
 * opts: NULL means TARN_GEN_OPTIONS_INIT.
 * Returns TARN_OK, TARN_EINVAL (days < 1, dup_rate outside 0..1, count 0,
 * start outside the time range), or TARN_ENOMEM. */
int tarn_gen_new(tarn_gen **out, const tarn_gen_options *opts);

/* Produce the next event.
 *
 * Returns TARN_OK with *ev filled, or TARN_ENOTFOUND when all count events
 * and their re-sends have been produced. Emits count * (1 + ~dup_rate)
 * events in total. Not thread-safe for one generator. */
int tarn_gen_next(tarn_gen *gen, tarn_gen_event *ev);

/* Free a generator; NULL is allowed. */
void tarn_gen_free(tarn_gen *gen);

#ifdef __cplusplus
}
#endif
#endif
