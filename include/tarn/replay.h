/* tarn/replay.h - read stored events back, in event-time order.
 *
 * Replay reads the shard store only; the command hands each event to the
 * Kafka adapter (tarn/kafka.h) or writes it as a JSON line.
 */
#ifndef TARN_REPLAY_H
#define TARN_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/event.h"
#include "tarn/lake.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tarn_replay_options {
	int64_t since_us;          /* inclusive lower bound on event time, us; INT64_MIN: none */
	int64_t until_us;          /* exclusive upper bound on event time, us; INT64_MAX: none */
	const char *const *names;  /* keep only these event names (n_names > 0), may be NULL */
	size_t n_names;
} tarn_replay_options;

#define TARN_REPLAY_OPTIONS_INIT { INT64_MIN, INT64_MAX, NULL, 0 }

/* Receives one stored event: id, time, name, the decompressed payload
 * (exact bytes as received), key, header block, topic, partition, offset,
 * kafka_ts_us. Pointers are valid only during the call.
 * Return 0 to go on, non-zero to stop the scan (tarn_replay_scan returns it). */
typedef int (*tarn_replay_cb)(void *ctx, const tarn_event *ev);

/* Visit the stored events matching opts in order of (event time, arrival)
 * — the same order for the same lake every time — reading only the shards
 * whose date can hold matching times.
 *
 * opts: NULL means TARN_REPLAY_OPTIONS_INIT.
 * n_events: receives how many events were visited (may be NULL).
 * Returns TARN_OK, the callback's non-zero value, TARN_ECORRUPT (a block
 * that does not decompress; the message names the shard), TARN_ESQLITE,
 * TARN_EZSTD, TARN_ENOMEM. */
int tarn_replay_scan(tarn_lake *lake, const tarn_replay_options *opts,
		     tarn_replay_cb cb, void *ctx, uint64_t *n_events);

#ifdef __cplusplus
}
#endif
#endif
