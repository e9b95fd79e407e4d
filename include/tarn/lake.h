/* tarn/lake.h - a lake: a folder of date shards, gold, quarantine, catalog.
 *
 *     LAKE/lake.db              catalog: format version, settings
 *     LAKE/shards/YYYY-MM-DD.db one SQLite file (WAL mode) per UTC event date
 *     LAKE/gold.db              gold tables and their per-day watermarks
 *     LAKE/quarantine.db        rejected inputs, exact bytes, source, reason
 *     LAKE/lake.lock            flock(2)ed by the one writer
 *     LAKE/reserve              1 MiB kept back by the writer; released when the
 *                               disk fills mid-commit, to finish the gold catch-up
 *
 * The file formats are described in docs/FORMAT.md. Writes happen in
 * batches: tarn_lake_add/tarn_lake_quarantine collect, tarn_lake_commit
 * makes the batch durable (quarantine, then each shard, then gold, each an
 * SQLite transaction with synchronous=FULL). Gold rows of a day carry the
 * shard's commit sequence number they reflect (the watermark); a writer that
 * finds a watermark behind its shard (a crash between the two commits)
 * recomputes that day from the raw events when it opens the lake.
 * A lake handle is not thread-safe; use one per thread.
 */
#ifndef TARN_LAKE_H
#define TARN_LAKE_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/event.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tarn_lake tarn_lake;

#define TARN_LAKE_READONLY 0x1u /* open existing files read-only; no lock, no recovery */
#define TARN_LAKE_GROUP_READABLE                                                                   \
	0x2u /* create new files 0640 and folders 0750                                             \
		instead of 0600 / 0700 */
#define TARN_LAKE_FORMAT_VERSION 4

/* Open (and, unless read-only, create) the lake in folder `dir`.
 *
 * dir: NUL-terminated path; created with mode 0700 when missing (writer).
 * flags: 0 for a writer, TARN_LAKE_READONLY for a reader; a writer may add
 *   TARN_LAKE_GROUP_READABLE (new files 0640, folders 0750).
 * A writer takes an exclusive flock on LAKE/lake.lock (one writer per lake)
 * and repairs gold days whose watermark lags their shard.
 * New files are created with mode 0600 (0640 with TARN_LAKE_GROUP_READABLE);
 * existing files keep theirs.
 * out: receives the handle; the caller closes it with tarn_lake_close.
 * Returns TARN_OK; TARN_ENOTFOUND (read-only and no lake there);
 * TARN_EBUSY (another writer holds the lock); TARN_ECORRUPT (lake.db is
 * not a tarn catalog or has a newer format version); TARN_EIO;
 * TARN_ESQLITE; TARN_ENOSPC; TARN_ENOMEM. */
int tarn_lake_open(tarn_lake **out, const char *dir, unsigned flags);

/* Roll back any uncommitted batch, close every file, release the lock,
 * free the handle. NULL is allowed. */
void tarn_lake_close(tarn_lake *lake);

/* The folder the lake was opened on; borrowed from the lake. */
const char *tarn_lake_dir(const tarn_lake *lake);

/* What happened to one event. */
typedef enum tarn_add_result {
	TARN_ADD_STORED = 0, /* new: stored, counted in gold */
	TARN_ADD_DUPLICATE,  /* same id and same payload bytes already stored */
	TARN_ADD_CONFLICT,   /* same id, different payload: quarantined as
				conflicting_duplicate; the first stays */
	TARN_ADD_EXPIRED     /* event date before the retention horizon
				(tarn_lake_prune): quarantined as expired */
} tarn_add_result;

/* Add one extracted event to the current batch (opening one if needed).
 *
 * ev: an event for which tarn_event_extract succeeded; payload, key and
 *   headers are copied (compressed into the shard's next block), so they
 *   need not outlive the call.
 * result: receives what happened (may be NULL).
 * Identity: the event id (its kind, UUID or text, and its bytes), across
 * every shard of the lake, whatever the event's time. First write wins. A
 * re-delivery is told DUPLICATE or CONFLICT by its payload bytes, or, when
 * the first copy is among the ~128K ids stored since the id index's last
 * flush, by a keyed 64-bit hash of them (docs/FORMAT.md, "Deduplication"
 * and "ids.db"). An event dated before the retention horizon is not
 * stored: EXPIRED (its id may have been forgotten with its shard).
 * Returns TARN_OK; TARN_EINVAL (read-only lake, ev has no id, or its time is
 * outside the date it maps to);
 * TARN_ESQLITE/TARN_ENOSPC/TARN_EIO/TARN_ECORRUPT (the shard file; the
 * batch must then be rolled back); TARN_EZSTD; TARN_ENOMEM. */
int tarn_lake_add(tarn_lake *lake, const tarn_event *ev, tarn_add_result *result);

/* Add one input that cannot be stored to the quarantine in this batch.
 *
 * ev: its raw part (payload = exact input bytes, key, headers, topic,
 *   partition, offset); id/time fields are ignored.
 * reason: why; detail: one line for humans, may be NULL.
 * A re-delivery of the same input (same topic, partition, offset and
 * bytes) is stored once.
 * Returns TARN_OK, TARN_EINVAL (read-only), TARN_ESQLITE, TARN_ENOSPC,
 * TARN_ENOMEM. */
int tarn_lake_quarantine(tarn_lake *lake, const tarn_event *ev, tarn_reject reason,
			 const char *detail);

/* Make the current batch durable: quarantine, every touched shard, gold.
 * On return TARN_OK every event added since the last commit is on disk and
 * the caller may commit its source positions (Kafka offsets).
 * Returns TARN_OK (also for an empty batch), or the error of the file that
 * failed (TARN_ENOSPC when the disk is full); the uncommitted rest of the
 * batch is then rolled back and the lake stays consistent. */
int tarn_lake_commit(tarn_lake *lake);

/* Drop the current batch. Returns TARN_OK. */
int tarn_lake_rollback(tarn_lake *lake);

/* ---- retention ---- */

/* What tarn_lake_prune deletes. Whole shard files only, oldest first;
 * gold rows stay (gold outlives raw data). */
typedef struct tarn_prune_options {
	const char *before;  /* "YYYY-MM-DD": shards of earlier dates; NULL: none */
	int keep_days;	     /* > 0: shards before today - keep_days + 1 (UTC,
				wall clock); 0: none */
	uint64_t max_bytes;  /* > 0: then the oldest shards while all shard files
				(with -wal) exceed this many bytes; 0: no cap */
	int quarantine_days; /* > 0: quarantine rows ingested more than this many
				days ago; 0: keep them */
} tarn_prune_options;

#define TARN_PRUNE_OPTIONS_INIT                                                                    \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

typedef struct tarn_prune_result {
	uint64_t shards;	  /* shard files deleted */
	uint64_t events;	  /* events they held */
	uint64_t bytes;		  /* their size on disk, bytes */
	uint64_t quarantine_rows; /* quarantine rows deleted */
	char horizon[11];	  /* first date still stored ("" when none set) */
} tarn_prune_result;

/* Delete old shards (and quarantine rows) of a writer's lake.
 *
 * Sets the lake's retention horizon (lake.db settings 'raw_horizon') to the
 * day after the newest deleted date, before deleting anything: from then
 * on an event dated before it is quarantined as `expired` (its shard, and
 * with it the record of its id, is gone, so a re-delivery could not be
 * told from a new event). Readers that have a deleted shard open keep
 * reading it (POSIX unlink). The id index forgets the deleted days.
 * o: what to delete (NULL: nothing); r: receives counts (may be NULL).
 * Returns TARN_OK; TARN_EINVAL (read-only lake, a batch not committed, a
 * bad date); TARN_EIO (a file that cannot be deleted: the horizon is set
 * and a later prune deletes it); TARN_ESQLITE. */
int tarn_lake_prune(tarn_lake *lake, const tarn_prune_options *o, tarn_prune_result *r);

/* What tarn_lake_compact did. */
typedef struct tarn_compact_result {
	uint64_t shards;       /* shards that had blocks to rewrite */
	uint64_t old_blocks;   /* small or older-format blocks rewritten */
	uint64_t new_blocks;   /* full blocks written */
	uint64_t events;       /* events moved (each once) */
	uint64_t bytes_before; /* those shards' files (with -wal) before, bytes */
	uint64_t bytes_after;  /* and after */
} tarn_compact_result;

/* Rewrite the small blocks (under 2,048 events) of the shard of date, or
 * of every shard when date is NULL, into full blocks: what ingest at a
 * trickle leaves behind (a commit every 100 ms makes a block of a few
 * events, which compresses poorly). Each shard in one SQLite transaction:
 * a crash leaves it as before or as after, never between; readers keep
 * their snapshot (WAL). Events, their order, commit_seq and gold are
 * unchanged; the old block ids stay valid for the id index (block_alias,
 * docs/FORMAT.md). Freed pages go back to the file system. Blocks of an
 * older block format (1 or 2, docs/FORMAT.md "Blocks"), whatever their
 * size, are rewritten in the current one the same way; finding them reads
 * each block's field frame.
 * Returns TARN_OK; TARN_EINVAL (read-only, a batch not committed, bad
 * date); TARN_ENOTFOUND (no shard of date); TARN_ESQLITE/TARN_ENOSPC;
 * TARN_ECORRUPT (a block that does not decode: nothing is changed). */
int tarn_lake_compact(tarn_lake *lake, const char *date, tarn_compact_result *r);

/* Compact automatically (tarn_lake_compact) each shard this writer has
 * written, once it has had no commit for `seconds` seconds (checked at each
 * commit); 0 turns it off. Default 600. Returns TARN_OK, TARN_EINVAL
 * (read-only, seconds < 0). */
int tarn_lake_set_compact_after(tarn_lake *lake, int seconds);

/* Apply `keep_days` (as tarn_prune_options.keep_days) after every commit of
 * this writer, once per new UTC date; stored in lake.db (settings
 * 'keep_days') for later writers. 0 turns it off. Returns TARN_OK,
 * TARN_EINVAL (read-only, days < 0), TARN_ESQLITE. */
int tarn_lake_set_keep_days(tarn_lake *lake, int days);

/* Bind extraction's field mapping to the lake (its paths: id_field,
 * time_field, name_field, user_field, type_field, page_field,
 * source_field). A lake remembers the mapping of its first ingest, as it
 * remembers keep_days (lake.db settings '<path>_field', SQL NULL for the
 * default list), so that every later ingest gives an input the same id,
 * time and dimensions, and tarn_lake_verify and tarn_gold_rebuild
 * recompute gold with the same dimensions. tarn_ingest_stream and
 * tarn_ingest_kafka call it; a caller that extracts and adds events itself
 * calls it before the first tarn_lake_add.
 *
 * opts: in: the paths the caller was given (NULL: none given); out: each
 *   NULL path becomes the lake's (borrowed from the lake, valid until
 *   tarn_lake_close); max_payload_bytes is left as it is.
 * A writer's lake that has no mapping yet (new, or written before lakes
 * remembered it) remembers opts's paths as they are; a read-only one
 * stores nothing. A path given that differs from the lake's is refused:
 * nothing is stored or changed. Giving the default of a field with a
 * one-path default (event_id, user_id, event_type, page, source) is the
 * same as giving nothing; time and name default to two paths each, so
 * --time-field timestamp differs from the default.
 * Returns TARN_OK; TARN_EINVAL (a path differs from the lake's: the
 * message names the field, the lake's path and the given one);
 * TARN_ESQLITE (lake.db); TARN_ENOMEM. */
int tarn_lake_fields(tarn_lake *lake, tarn_extract_options *opts);

/* Inputs added to the current, uncommitted batch: each event given to
 * tarn_lake_add (stored, duplicate, conflict or expired) and each
 * tarn_lake_quarantine call counts once. */
size_t tarn_lake_pending(const tarn_lake *lake);

/* ---- statistics ---- */

typedef struct tarn_shard_stats {
	char date[11];	     /* "YYYY-MM-DD", or "total" */
	uint64_t events;     /* events stored */
	uint64_t duplicates; /* re-deliveries absorbed (identical payload) */
	uint64_t blocks;     /* blocks of up to 4,096 events */
	uint64_t raw_bytes;  /* sum of payload sizes, bytes */
	uint64_t zstd_bytes; /* bytes of the blocks' zstd frames (fields and payloads) */
	uint64_t disk_bytes; /* the shard file and its -wal, bytes */
} tarn_shard_stats;

typedef struct tarn_lake_stats {
	tarn_shard_stats total;	  /* sums over every shard (date "total") */
	uint64_t quarantined;	  /* rows in the quarantine */
	uint64_t conflicts;	  /* of which conflicting_duplicate */
	uint64_t lake_disk_bytes; /* every file in the lake folder, bytes */
	uint64_t n_shards;
} tarn_lake_stats;

/* Called once per shard, in date order; return non-zero to stop. */
typedef int (*tarn_shard_stats_cb)(void *ctx, const tarn_shard_stats *s);

/* Gather statistics. cb may be NULL; out receives totals (may be NULL).
 * Returns TARN_OK, the callback's non-zero value, or a file's error. */
int tarn_lake_stats_get(tarn_lake *lake, tarn_shard_stats_cb cb, void *ctx, tarn_lake_stats *out);

/* ---- verification ---- */

/* Called once per problem found: file is a path inside the lake, problem
 * a one-line description. */
typedef void (*tarn_problem_cb)(void *ctx, const char *file, const char *problem);

/* Check the whole lake: PRAGMA integrity_check on every file; every shard
 * is a tarn shard of a known format version whose name matches its
 * event_date; every stored payload decompresses to its recorded length;
 * every gold table equals its recomputation from the raw events, for every
 * day whose shard can be read (gold rows of days whose shard is gone or
 * unreadable are kept and not compared; the unreadable shard is reported).
 * A writer's batch not yet committed is committed first (tarn_lake_commit),
 * so that what is checked is what is on disk; its error is returned as is.
 * n_problems: receives the count (may be NULL).
 * Returns TARN_OK when clean, TARN_ECORRUPT when problems were reported,
 * or another code when verification itself could not run. */
int tarn_lake_verify(tarn_lake *lake, tarn_problem_cb cb, void *ctx, uint64_t *n_problems);

/* Called once per date, in date order; non-zero stops the walk. date is
 * "YYYY-MM-DD" (UTC), borrowed for the call. */
typedef int (*tarn_date_cb)(void *ctx, const char *date);

/* The dates that gold.db holds rows of (in a built-in gold table or a
 * declared aggregate) but that have no shard file: the gold of days that
 * tarn_lake_prune deleted (kept on purpose) or whose shard was removed.
 * tarn_lake_verify cannot recompute them; this names them.
 * lake: read-only or writer. cb: receives each date once.
 * Returns TARN_OK, the callback's non-zero value, TARN_ESQLITE (gold.db),
 * TARN_EIO (the shards folder cannot be listed), TARN_ENOMEM. */
int tarn_lake_gold_only_days(tarn_lake *lake, tarn_date_cb cb, void *ctx);

/* ---- gold ---- */

/* Names of the gold tables (README.md, "Gold tables": five daily, three
 * per-minute), NULL-terminated, static. */
const char *const *tarn_gold_tables(void);

/* The per-minute ones among them (the speed layer: events_per_minute,
 * logins_per_source, purchases_per_minute; window_start is the UTC minute
 * of the event time as "YYYY-MM-DDTHH:MM:00Z", RFC 3339), NULL-terminated,
 * static. */
const char *const *tarn_gold_minute_tables(void);

/* Keep the per-minute gold rows (events_per_minute, logins_per_source,
 * purchases_per_minute) only for the last `days` UTC dates: today by the
 * wall clock and the days - 1 before it; 0 keeps them as long as their
 * shard (the default). The daily gold tables are not affected. Stored in
 * LAKE/lake.db (settings 'minute_days'), so later writers, tarn_lake_verify
 * and tarn_gold_rebuild apply the same horizon; rows older than it are
 * deleted at each commit, in the gold transaction.
 * Returns TARN_OK, TARN_EINVAL (read-only lake, days < 0 or > 100000),
 * TARN_ESQLITE. */
int tarn_lake_set_minute_days(tarn_lake *lake, int days);

/* Receives the progress of work over the whole lake (tarn_lake_verify,
 * tarn_gold_rebuild), after each shard: events and payload bytes (before
 * compression) read so far, and the lake's totals of both (counted from
 * the shards' block lists before the work starts). Called on the caller's
 * thread. */
typedef void (*tarn_lake_progress_cb)(void *ctx, uint64_t events, uint64_t bytes,
				      uint64_t total_events, uint64_t total_bytes);

/* Set (or with cb NULL, clear) the progress callback of lake; ctx is
 * passed back to it. Never fails. */
void tarn_lake_set_progress(tarn_lake *lake, tarn_lake_progress_cb cb, void *ctx);

/* Recompute every gold table from the raw events of every shard and
 * replace the stored rows, in one gold.db transaction. A batch not yet
 * committed is committed first (tarn_lake_commit), so that its events are
 * counted once. A shard that cannot be read (damaged, foreign, newer) does
 * not stop the others: its day's gold rows are kept as they were, every
 * other day is rebuilt and committed, and then TARN_ECORRUPT is returned
 * with a message (tarn_error_last) naming each such shard file and why.
 * Returns TARN_OK, TARN_EINVAL (read-only lake), TARN_ECORRUPT (the rest
 * rebuilt, as above), or the error of gold.db (TARN_ENOSPC, TARN_ESQLITE)
 * or TARN_ENOMEM, which roll the whole rebuild back. */
int tarn_gold_rebuild(tarn_lake *lake);

#ifdef __cplusplus
}
#endif
#endif
