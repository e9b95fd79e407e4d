/* Library-internal: what the lake's core (lake.c) offers the files that
 * share its handle: settings (lake_settings.c), the quarantine
 * (lake_quarantine.c), retention (lake_retention.c), compaction
 * (lake_compact.c), statistics (lake_stats.c) and verification and
 * rebuild (lake_verify.c). Only these include it. */
#ifndef TARN_LAKE_PRIVATE_H
#define TARN_LAKE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "tarn/lake.h"
#include "idindex.h"
#include "lake_internal.h"

#define N_FIELDS 7 /* the paths of tarn_extract_options */

struct tarn_lake {
	char *dir;
	int readonly;
	int file_mode, dir_mode; /* for new files and folders */
	int lock_fd;
	sqlite3 *catalog;
	sqlite3 *gold_db;
	tarn__gold *gold;
	sqlite3 *quar_db;
	sqlite3_stmt *quar_ins;
	int gold_txn, quar_txn;
	size_t pending;
	tarn__shard **shards; /* open shards, most recently used last */
	tarn__idindex *ids;   /* every stored event id, lake-wide */
	tarn_lake_progress_cb progress;
	void *progress_ctx;
	int minute_days;	      /* settings 'minute_days'; 0: no horizon */
	int keep_days;		      /* settings 'keep_days'; 0: no rolling retention */
	int compact_after_s;	      /* 0: no automatic compaction */
	char raw_horizon[11];	      /* settings 'raw_horizon': first date stored, or "" */
	int has_fields;		      /* the field mapping is remembered (settings *_field) */
	char *fields[N_FIELDS];	      /* its paths, NULL: the default list */
	tarn_extract_options extract; /* the same as options, for recomputing gold */
	int64_t horizon_us;	      /* its start, or INT64_MIN */
	tarn__shard *last;	      /* the shard of the last event added, and its day */
	int64_t last_day0;
	size_t n_shards;
	const struct tarn__exec *exec; /* where shards encode full blocks */
};

/* ---- core (lake.c) ---- */

/* The shard of date, from the open list or opened (and created by a
 * writer); borrowed from the lake. TARN_OK, TARN_ENOTFOUND (a reader, no
 * such shard), or the shard's open error. */
int tarn__lake_open_shard(tarn_lake *lake, const char *date, tarn__shard **out);
/* Close the shard of date if it is open (it is not in a batch). */
void tarn__lake_forget_shard(tarn_lake *lake, const char *date);
/* Days since the epoch of a time in microseconds (UTC). */
int32_t tarn__lake_day_of(int64_t time_us);
/* Open gold.db's batch transaction if it is not open. */
int tarn__lake_gold_begin(tarn_lake *lake);
/* Bring every day's gold up to its shard (after a crash between the
 * shard commits and gold's). */
int tarn__lake_repair_gold(tarn_lake *lake);
/* Commit a writer's open batch, if any (verify and rebuild read what is
 * on disk). */
int tarn__lake_commit_pending(tarn_lake *lake);

/* ---- settings (lake_settings.c): lake.db's settings table ---- */

/* Read the remembered settings (minute_days, keep_days, raw_horizon, the
 * field mapping) into lake. */
int tarn__lake_load_settings(tarn_lake *lake);
/* Store one setting: text when not NULL, else the integer num. */
int tarn__lake_setting_set(tarn_lake *lake, const char *key, const char *text, int64_t num);
/* The UTC date `back` days before today, "YYYY-MM-DD" ("" on failure). */
void tarn__lake_days_ago(int back, char out[11]);
/* Delete the per-minute rows before the minute horizon from db's gold
 * tables (gold.db, or verify's recomputation). */
int tarn__lake_prune_minutes(const tarn_lake *lake, sqlite3 *db);

/* ---- quarantine (lake_quarantine.c) ---- */

/* quarantine.db's schema. */
extern const char tarn__lake_quarantine_schema[];
/* Delete quarantine rows older than days; *rows (may be NULL) gets how many. */
int tarn__lake_prune_quarantine(tarn_lake *lake, int days, uint64_t *rows);

/* ---- retention (lake_retention.c) ---- */

/* --keep-days as ingest goes: prune once a day has passed. */
int tarn__lake_apply_keep_days(tarn_lake *lake);

/* ---- compaction (lake_compact.c) ---- */

/* Compact the shards that have been idle for --compact-after seconds. */
int tarn__lake_auto_compact(tarn_lake *lake);

/* ---- statistics (lake_stats.c) ---- */

/* Bytes of a file and its -wal (0 when missing). */
uint64_t tarn__lake_file_bytes(const char *path);
/* One unsigned integer from the first row of sql on db (0 when no row);
 * TARN_OK or TARN_ESQLITE naming `what`. */
int tarn__lake_query_u64(sqlite3 *db, const char *sql, uint64_t *out, const char *what);
/* Events and raw payload bytes of a shard, from its block list. */
void tarn__lake_shard_size(tarn__shard *s, uint64_t *events, uint64_t *bytes);

#endif
