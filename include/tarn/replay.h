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

/* A place in replay order: an event's (time, id). */
typedef struct tarn_replay_position {
	int64_t time_us;	       /* microseconds since the epoch, UTC */
	unsigned char id[TARN_ID_MAX]; /* as in tarn_event */
	size_t id_len;
	int id_is_uuid;
} tarn_replay_position;

typedef struct tarn_replay_options {
	int64_t since_us;	  /* inclusive lower bound on event time, us; INT64_MIN: none */
	int64_t until_us;	  /* exclusive upper bound on event time, us; INT64_MAX: none */
	const char *const *names; /* keep only these event names (n_names > 0), may be NULL */
	size_t n_names;
	const tarn_replay_position *after; /* skip events up to and including this
					      position (a checkpoint); NULL: none */
} tarn_replay_options;

#define TARN_REPLAY_OPTIONS_INIT                                                                   \
	{                                                                                          \
		INT64_MIN, INT64_MAX, NULL, 0, NULL                                                \
	}

/* Receives one stored event: id, time, name, the decompressed payload
 * (exact bytes as received), key, header block, topic, partition, offset,
 * kafka_ts_us. Pointers are valid only during the call.
 * Return 0 to go on, non-zero to stop the scan (tarn_replay_scan returns it). */
typedef int (*tarn_replay_cb)(void *ctx, const tarn_event *ev);

/* Visit the stored events matching opts in order of (event time, event id)
 * — ids compared as SQLite orders them: text ids before UUIDs, bytes with
 * memcmp — the same order for the same lake every time, reading only the
 * shards whose date can hold matching times.
 *
 * opts: NULL means TARN_REPLAY_OPTIONS_INIT.
 * n_events: receives how many events were visited (may be NULL).
 * Returns TARN_OK, the callback's non-zero value, TARN_ECORRUPT (a block
 * that does not decompress; the message names the shard), TARN_ESQLITE,
 * TARN_EZSTD, TARN_ENOMEM. */
int tarn_replay_scan(tarn_lake *lake, const tarn_replay_options *opts, tarn_replay_cb cb, void *ctx,
		     uint64_t *n_events);

/* Compare an event with a position in replay order: < 0, 0, > 0. */
int tarn_replay_position_cmp(const tarn_event *ev, const tarn_replay_position *pos);

/* Set pos to the event's (time, id). */
void tarn_replay_position_of(const tarn_event *ev, tarn_replay_position *pos);

/* Read the named replay checkpoint of a lake: the position up to which a
 * replay with `--checkpoint name` was acknowledged. Checkpoints live in
 * LAKE/checkpoints.db, which is not under the writer's lock, so a replay
 * can run beside an ingest.
 * lake_dir, name: NUL-terminated. out: receives the position.
 * Returns TARN_OK, TARN_ENOTFOUND (no such checkpoint), TARN_ESQLITE,
 * TARN_ECORRUPT (checkpoints.db is not tarn's). */
int tarn_replay_checkpoint_get(const char *lake_dir, const char *name, tarn_replay_position *out);

/* Store (replace) the named checkpoint, durably (synchronous=FULL).
 * Creates LAKE/checkpoints.db (mode 0600) when needed.
 * Returns TARN_OK, TARN_EINVAL (empty name), TARN_ESQLITE, TARN_ENOSPC,
 * TARN_EIO. */
int tarn_replay_checkpoint_set(const char *lake_dir, const char *name,
			       const tarn_replay_position *pos);

#ifdef __cplusplus
}
#endif
#endif
