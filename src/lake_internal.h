/* Library-internal pieces of the lake: shard store and gold. */
#ifndef TARN_LAKE_INTERNAL_H
#define TARN_LAKE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include <zstd.h>

#include "tarn/event.h"
#include "tarn/lake.h"
#include "block.h"

#include "sqlutil.h"

/* A thread that runs jobs (ingest.c: a worker at nice 19, which takes the
 * CPU time the storing and reader threads leave). */
struct tarn__exec {
	/* Queue fn(arg): 0 when queued, -1 when not (the caller runs it). */
	int (*submit)(void *ctx, void (*fn)(void *), void *arg);
	/* The caller needs arg's job done now: 1 when it had not started
	 * (it is dropped: the caller runs it, with cctx_here), 0 once it has
	 * run (waiting while it runs). */
	int (*settle)(void *ctx, void *arg);
	void *ctx;
	/* Block encoding contexts (tarn__block_cctx), one for every shard:
	 * cctx for jobs on the exec's thread, cctx_here for the jobs the
	 * storing thread runs itself. */
	ZSTD_CCtx *cctx, *cctx_here;
};

/* Encode full blocks on exec's thread from now on (NULL: on the calling
 * thread again, after every block in flight is written; exec must stay
 * valid until then). TARN_OK, or the first error of writing a block in
 * flight (the batch must then be rolled back). */
int tarn__lake_set_exec(tarn_lake *lake, const struct tarn__exec *exec);

/* A hint before tarn_lake_add(lake, ev), a few events ahead: start
 * loading the cache lines of the id index and the gold batch that adding
 * ev will touch, so that their misses overlap with other events' work.
 * Changes nothing; ev is only read. */
void tarn__lake_prefetch(const tarn_lake *lake, const tarn_event *ev);

/* A hint: about n events (a count) are about to be added; the id index
 * sizes its filter for them now (tarn__idindex_expect). Best effort:
 * nothing is stored or changed, and a failure (no memory for the larger
 * filter) leaves a filter sized as before. */
void tarn__lake_expect(tarn_lake *lake, uint64_t n);

/* Whether the batch should be committed now to bound the open shards:
 * MAX_OPEN_SHARDS (lake.c) shards are open and every one holds events of
 * the batch (a shard in a batch is never closed). Without it, a batch of
 * events spread over years kept one shard a day open: 1,827 days, 645 MB. */
int tarn__lake_shards_full(const tarn_lake *lake);

/* The lake's gold.db connection (borrowed). */
sqlite3 *tarn__lake_gold_db(tarn_lake *lake);
/* A writer's lake with its batch committed: TARN_OK, TARN_EINVAL
 * (read-only), or tarn_lake_commit's error. */
int tarn__lake_settle(tarn_lake *lake);
/* Load the declared aggregates of gold.db again (after create or drop). */
int tarn__lake_reload_aggregates(tarn_lake *lake);
/* 1 when lake is a writer's with no batch open (nothing added, gold.db and
 * quarantine.db outside a transaction), else 0. */
int tarn__lake_idle(const tarn_lake *lake);

/* Progress of work over a list of shards, told to the lake's progress
 * callback (tarn_lake_set_progress): events and bytes so far and in all. */
struct tarn__walk {
	uint64_t events, bytes, total_events, total_bytes;
};
/* Sum the sizes of the shards of dates[0..n) (only when a callback is set). */
void tarn__lake_walk_begin(tarn_lake *lake, struct tarn__walk *w, char (*dates)[11], size_t n);

/* ---- shard store (shard.c) ---- */

typedef struct tarn__shard tarn__shard;

/* One shard of the walk is done: add its size, tell the callback. */
void tarn__lake_walk_step(tarn_lake *lake, struct tarn__walk *w, tarn__shard *s);

/* Delete date's shard file and its -wal, -shm and -journal (close every
 * handle on it first), then fsync shards/ so that the deletion survives a
 * power cut. TARN_OK (also when there was none), TARN_EIO naming the file
 * that could not go or the folder that could not be fsynced, TARN_ENOMEM. */
int tarn__shard_unlink(const char *lake_dir, const char *date);

/* Open the shard of `date` ("YYYY-MM-DD") under lake_dir/shards. A writer
 * creates it when missing. Returns TARN_ENOTFOUND when read-only and
 * absent, TARN_ECORRUPT when foreign/newer/misnamed. */
int tarn__shard_open(tarn__shard **out, const char *lake_dir, const char *date, int readonly,
		     int create_mode);
void tarn__shard_close(tarn__shard *s);
const char *tarn__shard_date(const tarn__shard *s);
const char *tarn__shard_path(const tarn__shard *s);
sqlite3 *tarn__shard_db(tarn__shard *s);
/* Append a new event to the open batch (BEGIN on first use); h is its id
 * hash (tarn__id_hash). *block_id receives the block it will be in. The
 * caller has established that the id is not stored (idindex.h). */
int tarn__shard_append(tarn__shard *s, uint64_t h, const tarn_event *ev, int64_t *block_id);
/* Look for the event with ev's id in block block_id (a committed block,
 * one of the open batch, or the one being filled). *found 0 when absent;
 * else *res is TARN_ADD_DUPLICATE (same payload bytes) or
 * TARN_ADD_CONFLICT. */
int tarn__shard_find(tarn__shard *s, int64_t block_id, uint64_t h, const tarn_event *ev, int *found,
		     tarn_add_result *res);
/* Compaction: blocks under TARN__COMPACT_SMALL events (made by commits at
 * a trickle) are rewritten into full blocks in one transaction; the old
 * block ids point to the new ones (block_alias), so the id index stays
 * valid. Readers keep their snapshot (WAL). Not in a batch. */
#define TARN__COMPACT_SMALL (TARN__BLOCK_EVENTS / 2)
struct tarn__compact_result {
	uint64_t old_blocks, new_blocks, events;
	int64_t old_max_block; /* the highest block id before */
	int64_t new_max_block; /* the highest new block id (0: none written) */
};
int tarn__shard_compact(tarn__shard *s, struct tarn__compact_result *r);
/* Blocks under TARN__COMPACT_SMALL events. */
int tarn__shard_idle_small(const tarn__shard *s);
/* When this handle last committed a batch (0: never), µs since the epoch. */
int64_t tarn__shard_last_commit_us(const tarn__shard *s);

/* Encode full blocks on exec's thread (NULL: here). A block in flight is
 * written first: TARN_OK, or its error (the batch must then be rolled
 * back). */
int tarn__shard_set_exec(tarn__shard *s, const struct tarn__exec *exec);

/* Count one absorbed re-delivery of an event of this shard (written to
 * meta 'duplicates' at the batch's commit). */
int tarn__shard_count_duplicate(tarn__shard *s);
/* 1 when the shard has an uncommitted batch. */
int tarn__shard_dirty(const tarn__shard *s);
/* Start writing the block being filled (on the exec's thread, if any),
 * so that the commit finds it encoded. TARN_OK when not in a batch. */
int tarn__shard_flush(tarn__shard *s);
/* Flush the pending block, bump commit_seq, COMMIT. *seq gets the new seq. */
int tarn__shard_commit(tarn__shard *s, int64_t *seq);
void tarn__shard_rollback(tarn__shard *s);
/* The committed commit_seq. */
int tarn__shard_seq(tarn__shard *s, int64_t *seq);
/* Give back the batch buffers, block cache and compression context of a
 * shard that is not in a batch (they come back on the next insert). */
void tarn__shard_trim(tarn__shard *s);

/* One row of the shard's `blocks` table: which events a block holds. */
struct tarn__span {
	int64_t block_id;
	int64_t min_time, max_time; /* microseconds, the block's first and last event */
	uint32_t n_events;
};
/* Every block written (committed, or earlier in the open batch), in
 * block_id order; borrowed, valid until the next insert/commit/rollback. */
size_t tarn__shard_spans(const tarn__shard *s, const struct tarn__span **out);
/* A decoded block from the shard's small cache: borrowed, valid until the
 * next call on the shard. want_payloads: also decompress the payloads. */
int tarn__shard_block(tarn__shard *s, int64_t block_id, int want_payloads, const tarn__block **out);
/* Decode block_id into a block the caller owns (tarn__block_init first). */
int tarn__shard_read_block(tarn__shard *s, int64_t block_id, int want_payloads, tarn__block *b);
/* The payloads of b, a block of s read without them (tarn__shard_read_block
 * with want_payloads 0): its field frame is not decoded again. Returns as
 * tarn__shard_read_block does. */
int tarn__shard_read_payloads(tarn__shard *s, tarn__block *b);

/* Iterate a shard's events with event_time in [since_us, until_us), in
 * (event_time, event_id) order when time_order is set, else block by block
 * (each block in time order; cheapest); ev has payload
 * (borrowed), key, headers, provenance, id, time and name filled. */
typedef int (*tarn__shard_event_cb)(void *ctx, const tarn_event *ev);
int tarn__shard_scan(tarn__shard *s, int64_t since_us, int64_t until_us, int time_order,
		     tarn__shard_event_cb cb, void *ctx, uint64_t *n);

/* List the shard dates of a lake, sorted; *dates is malloc'd, each entry
 * 11 bytes. Names in shards/ that are not YYYY-MM-DD.db are reported to
 * `odd` (may be NULL). */
int tarn__shard_list(const char *lake_dir, char (**dates)[11], size_t *n,
		     void (*odd)(void *ctx, const char *name), void *odd_ctx);

/* ---- gold (gold.c) ---- */

typedef struct tarn__gold tarn__gold;

struct tarn__aggset;
struct tarn__aggpaths;
struct tarn__aggpre;

/* For a thread that reads events ahead of tarn_lake_add (ingest's reader):
 * make *p a copy of the payload paths the lake's declared aggregates read
 * (aggregate.h, tarn__aggpaths_copy), then give each event's values, read
 * with tarn__aggpaths_read, to the lake just before its tarn_lake_add,
 * and NULL just after (tarn__aggregate_hint). Call both on the lake's
 * thread. TARN_OK, TARN_ENOMEM. */
int tarn__lake_aggpaths(tarn_lake *lake, struct tarn__aggpaths *p);
void tarn__lake_aggregate_hint(tarn_lake *lake, const struct tarn__aggpre *pre);

/* Open gold tables on an existing connection (creating the schema when
 * create is set). The connection stays owned by the caller. */
int tarn__gold_attach(tarn__gold **out, sqlite3 *db, int create);
void tarn__gold_detach(tarn__gold *g);
/* g's set of declared aggregates; NULL when g is or none are loaded. */
struct tarn__aggset *tarn__gold_aggset(tarn__gold *g);
/* Count one stored event of day `date` into the batch's deltas; they are
 * written to the gold tables by tarn__gold_watermark_set for that day. */
int tarn__gold_add(tarn__gold *g, const char *date, const tarn_event *ev);
/* A hint: start loading the slot of ev's user in the batch's table of
 * `date`, which tarn__gold_add will probe shortly after (the table is
 * larger than the CPU caches; one miss an event otherwise). */
void tarn__gold_prefetch(const tarn__gold *g, const char *date, const tarn_event *ev);
/* Delete every gold row of `date`. */
int tarn__gold_clear_day(tarn__gold *g, const char *date);
/* Recompute day `date` from the shard's raw events (within the caller's
 * transaction on the gold connection), taking the dimensions from the
 * payload paths of fields (the lake's mapping; NULL: the defaults). On
 * failure the day's batch deltas are dropped. */
int tarn__gold_recompute_day(tarn__gold *g, tarn__shard *s, const tarn_extract_options *fields);
int tarn__gold_watermark_get(tarn__gold *g, const char *date, int64_t *seq);
/* Write the day's batch deltas, then its watermark (same transaction). */
int tarn__gold_watermark_set(tarn__gold *g, const char *date, int64_t seq);
/* Forget every batch delta (the batch was rolled back). */
void tarn__gold_discard(tarn__gold *g);
/* Load the declared aggregates of catalog schema ("main", or an attached
 * name) into g, replacing those it had; create_tables: create their tables
 * in main first (verify's recomputation). From then on tarn__gold_add,
 * _watermark_set, _clear_day and _discard maintain them too. */
int tarn__gold_aggregates(tarn__gold *g, const char *schema, int create_tables);
/* How many declared aggregates g maintains, and the i-th's table name. */
size_t tarn__gold_n_aggregates(const tarn__gold *g);
const char *tarn__gold_aggregate_name(const tarn__gold *g, size_t i);
/* Schema text of the gold tables. */
extern const char tarn__gold_schema[];

#endif
