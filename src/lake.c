/* A lake folder: catalog, shards, gold, quarantine; batches and recovery. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "tarn/time.h"
#include "aggregate.h"
#include "error_internal.h"
#include "hash.h"
#include "idindex.h"
#include "lake_internal.h"
#include "sqlutil.h"

#define MAX_OPEN_SHARDS 64
#define N_FIELDS	7 /* the paths of tarn_extract_options */
/* Space kept back for finishing a commit when the disk fills (see
 * release_reserve): enough to bring a day's gold rows up to its shard. */
#define RESERVE_BYTES (1024 * 1024)

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

static const char quarantine_schema[] =
	"CREATE TABLE IF NOT EXISTS quarantine(id INTEGER PRIMARY KEY,"
	" reason TEXT NOT NULL, detail TEXT, payload BLOB NOT NULL,"
	" payload_hash INTEGER NOT NULL, key BLOB, headers BLOB, topic TEXT,"
	" partition INTEGER, kafka_offset INTEGER, ingest_time INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS quarantine_source ON quarantine("
	" ifnull(topic, ''), ifnull(partition, -1), ifnull(kafka_offset, -1),"
	" reason, payload_hash);";

const char *tarn_lake_dir(const tarn_lake *lake)
{
	return lake->dir;
}

size_t tarn_lake_pending(const tarn_lake *lake)
{
	return lake->pending;
}

static int make_dir(const char *path, int mode)
{
	if (mkdir(path, (mode_t)mode) == 0) {
		tarn__fs_note(TARN__FS_CREATE, path);
		return tarn__fs_sync_parent(path); /* or a power cut may forget the folder */
	}
	if (errno == EEXIST)
		return TARN_OK;
	return tarn__error_set(errno == ENOSPC ? TARN_ENOSPC : TARN_EIO, "create folder %s: %s",
			       path, strerror(errno));
}

static int take_lock(tarn_lake *lake)
{
	char *path = tarn__path_join(lake->dir, "lake.lock");

	if (!path)
		return tarn__error_set(TARN_ENOMEM, "lock");
	lake->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lake->lock_fd < 0) {
		int rc = tarn__error_set(TARN_EIO, "%s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	tarn__fs_note(TARN__FS_CREATE, path);
	free(path);
	if (flock(lake->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return tarn__error_set(TARN_EBUSY,
					       "%s: another tarn process is writing to this lake"
					       " (lake.lock is held); one writer at a time",
					       lake->dir);
		return tarn__error_set(TARN_EIO, "lock %s: %s", lake->dir, strerror(errno));
	}
	return TARN_OK;
}

/* Open one of the lake's own files, creating its schema for a writer. */
static int open_file(tarn_lake *lake, const char *name, const char *schema, sqlite3 **out)
{
	char *path = tarn__path_join(lake->dir, name);
	int rc;

	if (!path)
		return tarn__error_set(TARN_ENOMEM, "%s", name);
	rc = tarn__sql_open(out, path, lake->readonly, lake->readonly ? 0 : lake->file_mode);
	if (!rc && !lake->readonly) {
		rc = tarn__sql_exec(*out, "BEGIN IMMEDIATE", path);
		if (!rc)
			rc = tarn__sql_exec(*out, schema, path);
		if (!rc)
			rc = tarn__sql_stamp(*out, path);
		if (!rc)
			rc = tarn__sql_exec(*out, "COMMIT", path);
		else
			sqlite3_exec(*out, "ROLLBACK", NULL, NULL, NULL);
	}
	free(path);
	return rc;
}

static int open_shard(tarn_lake *lake, const char *date, tarn__shard **out);
static int repair_gold(tarn_lake *lake);

/* The field mapping of extraction (tarn_extract_options' paths), as lake.db
 * settings keys; `single` is the default when it is one path, so that
 * giving it is the same as giving nothing (time and name default to two);
 * `shown` says the default in messages. */
static const struct field {
	const char *key;
	size_t at; /* offsetof the path in tarn_extract_options */
	const char *single, *shown;
} mapping[N_FIELDS] = {
	{ "id_field", offsetof(tarn_extract_options, id_field), "event_id", "event_id" },
	{ "time_field", offsetof(tarn_extract_options, time_field), NULL,
	  "timestamp, then published_at" },
	{ "name_field", offsetof(tarn_extract_options, name_field), NULL,
	  "event_name, then event_type" },
	{ "user_field", offsetof(tarn_extract_options, user_field), "user_id", "user_id" },
	{ "type_field", offsetof(tarn_extract_options, type_field), "event_type", "event_type" },
	{ "page_field", offsetof(tarn_extract_options, page_field), "page", "page" },
	{ "source_field", offsetof(tarn_extract_options, source_field), "source", "source" },
};

static const char **field_of(tarn_extract_options *o, size_t i)
{
	return (const char **)((char *)o + mapping[i].at);
}

/* lake->extract from lake->fields. */
static void fields_to_options(tarn_lake *lake)
{
	tarn_extract_options o = TARN_EXTRACT_OPTIONS_INIT;
	size_t i;

	for (i = 0; i < N_FIELDS; i++)
		*field_of(&o, i) = lake->fields[i];
	lake->extract = o;
}

/* Remember the path of setting key (value v, NULL for the default). */
static int load_field(tarn_lake *lake, const char *key, const char *v)
{
	size_t i;

	for (i = 0; i < N_FIELDS; i++) {
		if (strcmp(key, mapping[i].key) != 0)
			continue;
		lake->has_fields = 1;
		if (!v)
			return TARN_OK;
		lake->fields[i] = strdup(v);
		return lake->fields[i] ? TARN_OK : tarn__error_set(TARN_ENOMEM, "lake.db");
	}
	return TARN_OK;
}

/* The lake's settings that change what a writer does (lake.db). */
static int load_minute_days(tarn_lake *lake)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(
		lake->catalog,
		"SELECT key, value FROM settings WHERE key IN"
		" ('minute_days', 'keep_days', 'raw_horizon') OR key GLOB '*_field'",
		&st, "lake.db");

	if (rc)
		return rc;
	lake->horizon_us = INT64_MIN;
	while (rc == TARN_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		if (!k)
			continue;
		if (strcmp(k, "minute_days") == 0)
			lake->minute_days = sqlite3_column_int(st, 1);
		else if (strcmp(k, "keep_days") == 0)
			lake->keep_days = sqlite3_column_int(st, 1);
		else if (strcmp(k, "raw_horizon") == 0) {
			if (v && tarn_time_parse_date(v, &lake->horizon_us) == TARN_OK)
				snprintf(lake->raw_horizon, sizeof(lake->raw_horizon), "%s", v);
		} else {
			rc = load_field(lake, k, v);
		}
	}
	sqlite3_finalize(st);
	fields_to_options(lake);
	return rc;
}

static int setting_set(tarn_lake *lake, const char *key, const char *text, int64_t num)
{
	sqlite3_stmt *st;
	int rc;

	rc = tarn__sql_prepare(lake->catalog, "INSERT OR REPLACE INTO settings VALUES(?, ?)", &st,
			       "lake.db");
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, num);
	rc = sqlite3_step(st) == SQLITE_DONE
		     ? TARN_OK
		     : tarn__error_sqlite(lake->catalog, "lake.db: settings");
	sqlite3_finalize(st);
	return rc;
}

/* Is path p (given, not NULL) the field's remembered path r? */
static int same_path(const struct field *f, const char *r, const char *p)
{
	if (r)
		return strcmp(r, p) == 0;
	return f->single && strcmp(f->single, p) == 0;
}

/* Store the mapping of o in lake.db (one transaction) and in the lake. */
static int remember_fields(tarn_lake *lake, tarn_extract_options *o)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	rc = tarn__sql_prepare(lake->catalog, "INSERT OR REPLACE INTO settings VALUES(?, ?)", &st,
			       "lake.db");
	if (!rc)
		rc = tarn__sql_exec(lake->catalog, "BEGIN IMMEDIATE", "lake.db");
	for (i = 0; rc == TARN_OK && i < N_FIELDS; i++) {
		const char *p = *field_of(o, i);

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, mapping[i].key, -1, SQLITE_STATIC);
		if (p)
			sqlite3_bind_text(st, 2, p, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 2);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(lake->catalog, "lake.db: settings");
		if (!rc && p) {
			lake->fields[i] = strdup(p);
			if (!lake->fields[i])
				rc = tarn__error_set(TARN_ENOMEM, "lake.db");
		}
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = tarn__sql_exec(lake->catalog, "COMMIT", "lake.db");
	if (rc) {
		sqlite3_exec(lake->catalog, "ROLLBACK", NULL, NULL, NULL);
		for (i = 0; i < N_FIELDS; i++) {
			free(lake->fields[i]);
			lake->fields[i] = NULL;
		}
		return rc;
	}
	lake->has_fields = 1;
	fields_to_options(lake);
	return TARN_OK;
}

int tarn_lake_fields(tarn_lake *lake, tarn_extract_options *opts)
{
	size_t i;

	if (!lake->has_fields) {
		if (lake->readonly)
			return TARN_OK;
		return remember_fields(lake, opts);
	}
	for (i = 0; i < N_FIELDS; i++) {
		const char *p = *field_of(opts, i), *r = lake->fields[i];

		if (p && !same_path(&mapping[i], r, p))
			return tarn__error_set(
				TARN_EINVAL,
				"%s: this lake's %s is %s%s%s, not '%s' (a lake keeps"
				" the field mapping of its first ingest)",
				lake->dir, mapping[i].key, r ? "'" : "the default (",
				r ? r : mapping[i].shown, r ? "'" : ")", p);
	}
	for (i = 0; i < N_FIELDS; i++)
		if (!*field_of(opts, i))
			*field_of(opts, i) = lake->fields[i];
	return TARN_OK;
}

/* A count of days kept in lake.db and in *field. */
static int set_days(tarn_lake *lake, const char *key, int days, int max, int *field)
{
	int rc;

	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (days < 0 || days > max)
		return tarn__error_set(TARN_EINVAL, "%s %d: want 0..%d", key, days, max);
	rc = setting_set(lake, key, NULL, days);
	if (!rc)
		*field = days;
	return rc;
}

int tarn_lake_set_minute_days(tarn_lake *lake, int days)
{
	return set_days(lake, "minute_days", days, 100000, &lake->minute_days);
}

int tarn_lake_set_keep_days(tarn_lake *lake, int days)
{
	return set_days(lake, "keep_days", days, 1000000, &lake->keep_days);
}

/* "YYYY-MM-DD" of today (UTC, wall clock) minus back days. */
static void days_ago(int back, char out[11])
{
	int64_t now = tarn_time_now_us(), day0 = now - now % TARN_US_PER_DAY;

	if (tarn_time_date(day0 - (int64_t)back * TARN_US_PER_DAY, out))
		out[0] = '\0';
}

/* The first event date whose per-minute rows are kept ("" for all). */
static void minute_horizon(const tarn_lake *lake, char out[11])
{
	out[0] = '\0';
	if (lake->minute_days > 0)
		days_ago(lake->minute_days - 1, out);
}

/* Delete the per-minute rows before the horizon from db's gold tables. */
static int prune_minutes(const tarn_lake *lake, sqlite3 *db)
{
	const char *const *t;
	char horizon[11];
	int rc = TARN_OK;

	minute_horizon(lake, horizon);
	if (!horizon[0])
		return TARN_OK;
	for (t = tarn_gold_minute_tables(); *t && rc == TARN_OK; t++) {
		sqlite3_stmt *st;
		char sql[128];

		/* table names come from tarn's own list, never from input */
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE event_date < ?", *t);
		rc = tarn__sql_prepare(db, sql, &st, "gold.db");
		if (rc)
			break;
		sqlite3_bind_text(st, 1, horizon, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(db, "gold.db: minute retention");
		sqlite3_finalize(st);
	}
	return rc;
}

/* Best effort: keep LAKE/reserve at RESERVE_BYTES. */
static void keep_reserve(tarn_lake *lake)
{
	char *path = tarn__path_join(lake->dir, "reserve");
	struct stat st;
	int fd;

	if (!path)
		return;
	if (stat(path, &st) == 0 && st.st_size >= RESERVE_BYTES) {
		free(path);
		return;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		tarn__fs_note(TARN__FS_CREATE, path);
		if (posix_fallocate(fd, 0, RESERVE_BYTES) != 0) {
			close(fd);
			unlink(path); /* no room for it now; try again next open */
			tarn__fs_note(TARN__FS_UNLINK, path);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(path);
}

/* The disk is full in the middle of a commit: give the reserve back so
 * the gold catch-up can be written and the lake stays consistent. */
static void release_reserve(tarn_lake *lake)
{
	char *path = tarn__path_join(lake->dir, "reserve");

	if (path && unlink(path) == 0)
		tarn__fs_note(TARN__FS_UNLINK, path);
	free(path);
}

int tarn_lake_open(tarn_lake **out, const char *dir, unsigned flags)
{
	tarn_lake *lake;
	char catalog_schema[256];
	int rc;

	*out = NULL;
	if (!dir || !*dir)
		return tarn__error_set(TARN_EINVAL, "no lake folder given");
	lake = calloc(1, sizeof(*lake));
	if (!lake)
		return tarn__error_set(TARN_ENOMEM, "lake");
	lake->lock_fd = -1;
	lake->compact_after_s = 600;
	lake->readonly = (flags & TARN_LAKE_READONLY) != 0;
	lake->file_mode = flags & TARN_LAKE_GROUP_READABLE ? 0640 : 0600;
	lake->dir_mode = flags & TARN_LAKE_GROUP_READABLE ? 0750 : 0700;
	lake->dir = strdup(dir);
	if (!lake->dir) {
		free(lake);
		return tarn__error_set(TARN_ENOMEM, "lake");
	}
	if (lake->readonly) {
		char *p = tarn__path_join(dir, "lake.db");
		int exists = p && access(p, F_OK) == 0;
		free(p);
		if (!exists) {
			rc = tarn__error_set(TARN_ENOTFOUND, "%s: no lake here (no lake.db)", dir);
			goto fail;
		}
	} else {
		char *shards = tarn__path_join(dir, "shards");
		rc = make_dir(dir, lake->dir_mode);
		if (!rc)
			rc = shards ? make_dir(shards, lake->dir_mode) : TARN_ENOMEM;
		free(shards);
		if (!rc)
			rc = take_lock(lake);
		if (rc)
			goto fail;
	}
	snprintf(catalog_schema, sizeof(catalog_schema),
		 "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value)"
		 " WITHOUT ROWID;"
		 "INSERT OR IGNORE INTO settings VALUES('format_version', %d),"
		 " ('created_at', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'));",
		 TARN_LAKE_FORMAT_VERSION);
	rc = open_file(lake, "lake.db", catalog_schema, &lake->catalog);
	if (!rc)
		rc = load_minute_days(lake);
	if (!rc)
		rc = open_file(lake, "gold.db", tarn__gold_schema, &lake->gold_db);
	if (!rc)
		rc = open_file(lake, "quarantine.db", quarantine_schema, &lake->quar_db);
	if (rc)
		goto fail;
	/* the quarantine is only appended: it needs less than the default;
	 * gold's batch writes touch the day's recent minutes and its new
	 * users: 1 MB holds them */
	if (!lake->readonly) {
		sqlite3_exec(lake->quar_db, "PRAGMA cache_size=-256", NULL, NULL, NULL);
		sqlite3_exec(lake->gold_db, "PRAGMA cache_size=-1024", NULL, NULL, NULL);
	}
	rc = tarn__gold_attach(&lake->gold, lake->gold_db, 0);
	if (!rc && !lake->readonly)
		rc = tarn__sql_exec(lake->gold_db, tarn__aggregate_schema, "gold.db: aggregates");
	if (!rc && !lake->readonly)
		rc = tarn__gold_aggregates(lake->gold, "main", 0);
	if (!rc && !lake->readonly)
		rc = tarn__idindex_open(&lake->ids, dir, lake->file_mode);
	if (!rc && !lake->readonly)
		rc = tarn__sql_prepare(lake->quar_db,
				       "INSERT OR IGNORE INTO quarantine(reason, detail,"
				       " payload, payload_hash, key, headers, topic, partition,"
				       " kafka_offset, ingest_time) VALUES(?,?,?,?,?,?,?,?,?,?)",
				       &lake->quar_ins, "quarantine.db");
	if (!rc && !lake->readonly)
		rc = repair_gold(lake);
	if (!rc && !lake->readonly)
		rc = tarn__aggregate_take_requests(lake);
	if (rc)
		goto fail;
	if (!lake->readonly)
		keep_reserve(lake);
	*out = lake;
	return TARN_OK;
fail:
	tarn_lake_close(lake);
	return rc;
}

void tarn_lake_close(tarn_lake *lake)
{
	size_t i;

	if (!lake)
		return;
	tarn_lake_rollback(lake);
	for (i = 0; i < lake->n_shards; i++)
		tarn__shard_close(lake->shards[i]);
	free(lake->shards);
	tarn__gold_detach(lake->gold);
	tarn__idindex_close(lake->ids);
	sqlite3_finalize(lake->quar_ins);
	sqlite3_close(lake->gold_db);
	sqlite3_close(lake->quar_db);
	sqlite3_close(lake->catalog);
	if (lake->lock_fd >= 0)
		close(lake->lock_fd); /* releases the flock */
	for (i = 0; i < N_FIELDS; i++)
		free(lake->fields[i]);
	free(lake->dir);
	free(lake);
}

/* Close the i-th open shard (not in a batch) and drop it from the list. */
static void close_shard_at(tarn_lake *lake, size_t i)
{
	if (lake->shards[i] == lake->last)
		lake->last = NULL;
	tarn__shard_close(lake->shards[i]);
	memmove(lake->shards + i, lake->shards + i + 1,
		(lake->n_shards - i - 1) * sizeof(*lake->shards));
	lake->n_shards--;
}

/* Find or open a shard, keeping at most MAX_OPEN_SHARDS open; shards in a
 * batch are never closed. */
static int open_shard(tarn_lake *lake, const char *date, tarn__shard **out)
{
	tarn__shard *s;
	size_t i;
	int rc;

	for (i = 0; i < lake->n_shards; i++) {
		if (strcmp(tarn__shard_date(lake->shards[i]), date) == 0) {
			*out = lake->shards[i];
			return TARN_OK;
		}
	}
	if (lake->n_shards >= MAX_OPEN_SHARDS) {
		for (i = 0; i < lake->n_shards; i++)
			if (!tarn__shard_dirty(lake->shards[i]))
				break;
		if (i < lake->n_shards)
			close_shard_at(lake, i);
	}
	rc = tarn__shard_open(&s, lake->dir, date, lake->readonly, lake->file_mode);
	if (rc)
		return rc;
	if (lake->n_shards % 16 == 0) {
		tarn__shard **n = realloc(lake->shards, (lake->n_shards + 16) * sizeof(*n));
		if (!n) {
			tarn__shard_close(s);
			return tarn__error_set(TARN_ENOMEM, "shards");
		}
		lake->shards = n;
	}
	lake->shards[lake->n_shards++] = s;
	if (lake->exec)
		tarn__shard_set_exec(s, lake->exec); /* a new handle: nothing in flight */
	*out = s;
	return TARN_OK;
}

static int gold_begin(tarn_lake *lake)
{
	int rc;

	if (lake->gold_txn)
		return TARN_OK;
	rc = tarn__sql_exec(lake->gold_db, "BEGIN IMMEDIATE", "gold.db");
	if (!rc)
		lake->gold_txn = 1;
	return rc;
}

static int32_t day_of(int64_t time_us)
{
	int64_t d = time_us / TARN_US_PER_DAY;

	if (time_us % TARN_US_PER_DAY < 0)
		d--;
	return (int32_t)d;
}

/* Give the id index the ids of the shard's blocks written after the last
 * one its runs hold (a crash, or a close that could not write them). A
 * damaged block is skipped here; verify names it. */
static int recover_ids(tarn_lake *lake, tarn__shard *s)
{
	const struct tarn__span *sp;
	size_t n = tarn__shard_spans(s, &sp), k;
	int64_t day0, covered;
	struct tarn__idloc loc;
	tarn__block b;
	int rc = TARN_OK;

	if (!lake->ids)
		return TARN_OK;
	tarn_time_parse_date(tarn__shard_date(s), &day0);
	loc.day = day_of(day0);
	covered = tarn__idindex_covered(lake->ids, loc.day);
	tarn__block_init(&b);
	for (k = 0; !rc && k < n; k++) {
		uint32_t i;

		if (sp[k].block_id <= covered)
			continue;
		if (tarn__shard_read_block(s, sp[k].block_id, 0, &b) != TARN_OK)
			continue;
		loc.block_id = (uint32_t)sp[k].block_id;
		for (i = 0; !rc && i < b.n; i++) {
			const struct tarn__rec *r = &b.recs[i];
			rc = tarn__idindex_recover(
				lake->ids,
				tarn__id_hash(r->is_uuid, b.arena.p + r->id_off, r->id_len), loc);
		}
	}
	tarn__block_free(&b);
	return rc;
}

/* Bring every day's gold rows up to its shard: a day whose watermark is not
 * the shard's commit_seq (a crash between shard and gold commits) is
 * recomputed from the raw events. The id index catches up on the blocks
 * written since its last run. */
static int repair_gold(tarn_lake *lake)
{
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	int rc;

	rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;
		int64_t seq, mark;

		rc = open_shard(lake, dates[i], &s);
		if (rc == TARN_ECORRUPT) {
			/* a damaged shard does not stop other days; verify names it */
			rc = TARN_OK;
			continue;
		}
		if (!rc)
			rc = recover_ids(lake, s);
		if (!rc)
			rc = tarn__shard_seq(s, &seq);
		if (rc)
			break;
		rc = tarn__gold_watermark_get(lake->gold, dates[i], &mark);
		if (rc == TARN_ENOTFOUND)
			rc = TARN_OK;
		if (rc || mark == seq)
			continue;
		rc = gold_begin(lake);
		if (!rc)
			rc = tarn__gold_recompute_day(lake->gold, s, &lake->extract);
	}
	free(dates);
	if (rc) {
		tarn_lake_rollback(lake);
		return rc;
	}
	if (lake->gold_txn) {
		rc = prune_minutes(lake, lake->gold_db);
		if (!rc)
			rc = tarn__sql_exec(lake->gold_db, "COMMIT", "gold.db");
		if (rc)
			tarn_lake_rollback(lake);
		lake->gold_txn = 0;
	}
	return rc;
}

/* The shard of a day the id index names, or *out NULL when the lake has
 * no such shard (deleted by retention: what it held is forgotten). */
static int candidate_shard(tarn_lake *lake, int32_t day, tarn__shard **out)
{
	char date[11], name[32], *path;
	size_t i;
	int rc, exists;

	*out = NULL;
	rc = tarn_time_date((int64_t)day * TARN_US_PER_DAY, date);
	if (rc)
		return TARN_OK;
	for (i = 0; i < lake->n_shards; i++) {
		if (strcmp(tarn__shard_date(lake->shards[i]), date) == 0) {
			*out = lake->shards[i];
			return TARN_OK;
		}
	}
	snprintf(name, sizeof(name), "shards/%s.db", date);
	path = tarn__path_join(lake->dir, name);
	if (!path)
		return tarn__error_set(TARN_ENOMEM, "shard %s", date);
	exists = access(path, F_OK) == 0;
	free(path);
	return exists ? open_shard(lake, date, out) : TARN_OK;
}

/* Is an event with ev's id stored anywhere in the lake? Every candidate
 * the id index names is checked: a recent one by its payload hash, others
 * by reading the block and comparing bytes. *where: the shard holding it
 * (NULL when that shard is gone). *phash: the payload's keyed hash. */
static int find_stored(tarn_lake *lake, uint64_t h, const tarn_event *ev, int *found,
		       tarn_add_result *res, tarn__shard **where, uint64_t *phash)
{
	const struct tarn__idcand *cands;
	struct tarn__idcand *copy;
	size_t n, i;
	int rc;

	*found = 0;
	*where = NULL;
	*phash = tarn__idindex_payload_hash(lake->ids, ev->payload, ev->payload_len);
	rc = tarn__idindex_lookup(lake->ids, h, &cands, &n);
	if (rc || n == 0)
		return rc;
	/* opening a shard below must not disturb the list */
	copy = malloc(n * sizeof(*copy));
	if (!copy)
		return tarn__error_set(TARN_ENOMEM, "id lookup");
	memcpy(copy, cands, n * sizeof(*copy));
	for (i = 0; !rc && !*found && i < n; i++) {
		tarn__shard *s;
		if (copy[i].has_payload_hash) {
			/* a shard deleted by retention took the id with it */
			rc = candidate_shard(lake, copy[i].loc.day, where);
			if (rc || !*where)
				continue;
			*found = 1;
			*res = copy[i].payload_hash == *phash ? TARN_ADD_DUPLICATE
							      : TARN_ADD_CONFLICT;
			break;
		}
		rc = candidate_shard(lake, copy[i].loc.day, &s);
		if (!rc && s)
			rc = tarn__shard_find(s, copy[i].loc.block_id, h, ev, found, res);
		if (!rc && *found)
			*where = s;
	}
	free(copy);
	return rc;
}

/* Is time_us on the day of the shard of the last event added? */
static int in_last_day(const tarn_lake *lake, int64_t time_us)
{
	return lake->last && time_us >= lake->last_day0 &&
	       time_us - lake->last_day0 < TARN_US_PER_DAY;
}

/* The shard of an event's date: events come in runs of one day, so the
 * last one is tried before formatting and looking up the date. */
static int target_shard(tarn_lake *lake, const tarn_event *ev, char date[11], tarn__shard **out)
{
	int rc;

	if (in_last_day(lake, ev->time_us)) {
		*out = lake->last;
		memcpy(date, tarn__shard_date(lake->last), 11);
		return TARN_OK;
	}
	rc = tarn_time_date(ev->time_us, date);
	if (!rc)
		rc = open_shard(lake, date, out);
	if (!rc) {
		lake->last = *out;
		tarn_time_parse_date(date, &lake->last_day0);
	}
	return rc;
}

int tarn__lake_set_exec(tarn_lake *lake, const struct tarn__exec *exec)
{
	int rc = TARN_OK;
	size_t i;

	for (i = 0; i < lake->n_shards; i++) {
		int r = tarn__shard_set_exec(lake->shards[i], exec);
		if (!rc)
			rc = r;
	}
	lake->exec = exec;
	return rc;
}

void tarn__lake_prefetch(const tarn_lake *lake, const tarn_event *ev)
{
	if (lake->readonly || ev->id_len == 0 || (ev->id_is_uuid && ev->id_len != 16))
		return;
	tarn__idindex_prefetch(lake->ids, tarn__id_hash(ev->id_is_uuid, ev->id, ev->id_len));
	if (in_last_day(lake, ev->time_us))
		tarn__gold_prefetch(lake->gold, tarn__shard_date(lake->last), ev);
}

void tarn__lake_expect(tarn_lake *lake, uint64_t n)
{
	if (!lake->readonly && lake->ids)
		(void)tarn__idindex_expect(lake->ids, n);
}

int tarn_lake_add(tarn_lake *lake, const tarn_event *ev, tarn_add_result *result)
{
	tarn_add_result res = TARN_ADD_STORED;
	struct tarn__idloc loc;
	tarn__shard *s;
	int64_t block_id;
	uint64_t h, phash;
	char date[11];
	int rc, found;

	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (ev->id_len == 0 || (ev->id_is_uuid && ev->id_len != 16))
		return tarn__error_set(TARN_EINVAL, "event has no id");
	/* quarantined inputs are counted once, by tarn_lake_quarantine */
	if (ev->time_us < lake->horizon_us) {
		if (result)
			*result = TARN_ADD_EXPIRED;
		return tarn_lake_quarantine(lake, ev, TARN_REJECT_EXPIRED,
					    "event date before the retention horizon");
	}
	h = tarn__id_hash(ev->id_is_uuid, ev->id, ev->id_len);
	rc = gold_begin(lake);
	if (!rc)
		rc = find_stored(lake, h, ev, &found, &res, &s, &phash);
	if (rc)
		return rc;
	if (found) {
		if (result)
			*result = res;
		if (res == TARN_ADD_CONFLICT)
			return tarn_lake_quarantine(lake, ev, TARN_REJECT_CONFLICTING_DUPLICATE,
						    "event id already stored with a different"
						    " payload");
		lake->pending++;
		return s ? tarn__shard_count_duplicate(s) : TARN_OK;
	}
	rc = target_shard(lake, ev, date, &s);
	if (!rc)
		rc = tarn__shard_append(s, h, ev, &block_id);
	if (rc)
		return rc;
	loc.day = day_of(lake->last_day0);
	loc.block_id = (uint32_t)block_id;
	rc = tarn__idindex_add(lake->ids, h, phash, loc);
	if (rc)
		return rc;
	lake->pending++;
	if (result)
		*result = TARN_ADD_STORED;
	return tarn__gold_add(lake->gold, date, ev);
}

int tarn_lake_quarantine(tarn_lake *lake, const tarn_event *ev, tarn_reject reason,
			 const char *detail)
{
	sqlite3_stmt *st = lake->quar_ins;
	int rc;

	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (ev->payload_len > INT32_MAX)
		return tarn__error_set(TARN_EINVAL, "input over 2 GiB cannot be kept");
	if (!lake->quar_txn) {
		rc = tarn__sql_exec(lake->quar_db, "BEGIN IMMEDIATE", "quarantine.db");
		if (rc)
			return rc;
		lake->quar_txn = 1;
	}
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, tarn_reject_name(reason), -1, SQLITE_STATIC);
	if (detail)
		sqlite3_bind_text(st, 2, detail, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_blob(st, 3, ev->payload_len ? ev->payload : "", (int)ev->payload_len,
			  SQLITE_STATIC);
	/* FNV-1a only keeps the re-delivery index small; being persisted, it
	 * stays FNV-1a (hash.h) */
	sqlite3_bind_int64(st, 4, (int64_t)tarn__hash_fnv1a64(ev->payload, ev->payload_len));
	if (ev->key)
		sqlite3_bind_blob(st, 5, ev->key_len ? ev->key : "", (int)ev->key_len,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	if (ev->headers && ev->headers_len)
		sqlite3_bind_blob(st, 6, ev->headers, (int)ev->headers_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	tarn__bind_provenance(st, 7, ev);
	sqlite3_bind_int64(st, 10, ev->ingest_us ? ev->ingest_us : tarn_time_now_us());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(lake->quar_db, "quarantine.db: insert");
	lake->pending++;
	return TARN_OK;
}

int tarn_lake_rollback(tarn_lake *lake)
{
	size_t i;

	for (i = 0; i < lake->n_shards; i++)
		tarn__shard_rollback(lake->shards[i]);
	tarn__gold_discard(lake->gold);
	tarn__idindex_rollback(lake->ids);
	if (lake->gold_txn)
		sqlite3_exec(lake->gold_db, "ROLLBACK", NULL, NULL, NULL);
	if (lake->quar_txn)
		sqlite3_exec(lake->quar_db, "ROLLBACK", NULL, NULL, NULL);
	lake->gold_txn = lake->quar_txn = 0;
	lake->pending = 0;
	return TARN_OK;
}

static int compact_shard(tarn_lake *lake, tarn__shard *s, tarn_compact_result *r);

/* Shards this writer wrote that have been quiet for compact_after_s. */
static int auto_compact(tarn_lake *lake)
{
	int64_t now = tarn_time_now_us();
	size_t i;
	int rc = TARN_OK;

	if (lake->compact_after_s <= 0)
		return TARN_OK;
	for (i = 0; rc == TARN_OK && i < lake->n_shards; i++) {
		tarn__shard *s = lake->shards[i];
		int64_t last = tarn__shard_last_commit_us(s);
		tarn_compact_result r;

		if (last == 0 || now - last < (int64_t)lake->compact_after_s * 1000000 ||
		    tarn__shard_idle_small(s) < 2)
			continue;
		memset(&r, 0, sizeof(r));
		rc = compact_shard(lake, s, &r);
	}
	return rc;
}

static int apply_keep_days(tarn_lake *lake)
{
	tarn_prune_options o = TARN_PRUNE_OPTIONS_INIT;
	char before[11];

	if (lake->keep_days <= 0)
		return TARN_OK;
	days_ago(lake->keep_days - 1, before);
	if (!before[0] || strcmp(before, lake->raw_horizon) <= 0)
		return TARN_OK; /* done for this date already */
	o.keep_days = lake->keep_days;
	return tarn_lake_prune(lake, &o, NULL);
}

int tarn_lake_commit(tarn_lake *lake)
{
	size_t i;
	int rc = TARN_OK, shards_committed = 0;

	if (lake->readonly)
		return TARN_OK;
	/* Quarantine first: a re-delivered reject is absorbed by its unique
	 * index, so committing it early can never double it. */
	if (lake->quar_txn) {
		rc = tarn__sql_exec(lake->quar_db, "COMMIT", "quarantine.db");
		if (rc)
			goto fail;
		lake->quar_txn = 0;
	}
	/* Each shard's last block goes to the encoding thread first, and
	 * gold's rows are written (in gold's open transaction, which commits
	 * after every shard) while it is encoded. */
	for (i = 0; i < lake->n_shards; i++) {
		tarn__shard *s = lake->shards[i];
		int64_t seq;

		if (!tarn__shard_dirty(s)) {
			tarn__shard_trim(s); /* bounded memory with many days open */
			continue;
		}
		/* the batch commits as the committed commit_seq + 1 */
		rc = tarn__shard_flush(s);
		if (!rc)
			rc = tarn__shard_seq(s, &seq);
		if (!rc)
			rc = tarn__gold_watermark_set(lake->gold, tarn__shard_date(s), seq + 1);
		if (rc)
			goto fail;
	}
	for (i = 0; i < lake->n_shards; i++) {
		tarn__shard *s = lake->shards[i];
		int64_t seq;

		if (!tarn__shard_dirty(s))
			continue;
		rc = tarn__shard_commit(s, &seq);
		if (rc)
			goto fail;
		shards_committed = 1;
	}
	if (lake->gold_txn) {
		rc = prune_minutes(lake, lake->gold_db);
		if (!rc)
			rc = tarn__sql_exec(lake->gold_db, "COMMIT", "gold.db");
		if (rc)
			goto fail;
		lake->gold_txn = 0;
	}
	tarn__idindex_commit(lake->ids);
	lake->pending = 0;
	/* The events are safe in their shards; if the index cannot write its
	 * run now (disk full), the ids stay in memory and the next commit, the
	 * close or the next open (from the blocks) writes them. */
	tarn__idindex_flush(lake->ids, 0);
	rc = apply_keep_days(lake);
	if (!rc)
		rc = auto_compact(lake);
	/* aggregates that tarn aggregate create asked for while this writer
	 * holds the lake: built now, between two batches, so the next batch
	 * maintains them (README, "Declare your own gold") */
	return rc ? rc : tarn__aggregate_take_requests(lake);
fail : {
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", tarn_error_last());
	tarn_lake_rollback(lake);
	/* Shards that did commit are ahead of gold now; catch gold up so
	 * the lake stays consistent, with the reserve's space if the
	 * disk is full. If that fails too, the next writer does it. */
	if (shards_committed && repair_gold(lake) == TARN_ENOSPC) {
		release_reserve(lake);
		repair_gold(lake);
	}
	tarn__error_set(rc, "%s", msg);
}
	return rc;
}

/* ---- retention ---- */

static uint64_t file_and_wal_size(const char *path);
static void shard_size(tarn__shard *s, uint64_t *events, uint64_t *bytes);

/* Close a shard of the open list (it is not in a batch). */
static void forget_shard(tarn_lake *lake, const char *date)
{
	size_t i;

	for (i = 0; i < lake->n_shards; i++) {
		if (strcmp(tarn__shard_date(lake->shards[i]), date) == 0) {
			close_shard_at(lake, i);
			return;
		}
	}
}

static int prune_quarantine(tarn_lake *lake, int days, uint64_t *rows)
{
	sqlite3_stmt *st;
	int rc;

	rc = tarn__sql_prepare(lake->quar_db, "DELETE FROM quarantine WHERE ingest_time < ?", &st,
			       "quarantine.db");
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tarn_time_now_us() - (int64_t)days * TARN_US_PER_DAY);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tarn__error_sqlite(lake->quar_db, "quarantine.db: prune");
	else if (rows)
		*rows = (uint64_t)sqlite3_changes(lake->quar_db);
	sqlite3_finalize(st);
	return rc;
}

int tarn_lake_prune(tarn_lake *lake, const tarn_prune_options *o, tarn_prune_result *r)
{
	tarn_prune_result res;
	char(*dates)[11] = NULL, before[11] = "", horizon[11];
	uint64_t *sizes = NULL, total = 0;
	size_t n = 0, cut = 0, i;
	int rc;

	memset(&res, 0, sizeof(res));
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (lake->pending || lake->gold_txn || lake->quar_txn)
		return tarn__error_set(TARN_EINVAL, "prune: commit the batch first");
	if (o && o->before) {
		if (tarn_time_parse_date(o->before, NULL) != TARN_OK)
			return tarn__error_set(TARN_EINVAL, "'%s' is not a YYYY-MM-DD date",
					       o->before);
		snprintf(before, sizeof(before), "%s", o->before);
	}
	if (o && o->keep_days > 0) {
		char k[11];
		days_ago(o->keep_days - 1, k);
		if (strcmp(k, before) > 0)
			memcpy(before, k, sizeof(before));
	}
	rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	if (rc)
		return rc;
	sizes = calloc(n ? n : 1, sizeof(*sizes));
	if (!sizes) {
		free(dates);
		return tarn__error_set(TARN_ENOMEM, "prune");
	}
	for (i = 0; i < n; i++) {
		char name[32], *path;
		snprintf(name, sizeof(name), "shards/%s.db", dates[i]);
		path = tarn__path_join(lake->dir, name);
		sizes[i] = path ? file_and_wal_size(path) : 0;
		free(path);
		total += sizes[i];
	}
	while (cut < n && before[0] && strcmp(dates[cut], before) < 0)
		total -= sizes[cut++];
	while (cut < n && o && o->max_bytes && total > o->max_bytes)
		total -= sizes[cut++];
	/* The horizon first: from here on nothing older is stored again,
	 * even if a deletion below fails. */
	memcpy(horizon, before, sizeof(horizon));
	if (cut) {
		int64_t us;
		char next[11];
		tarn_time_parse_date(dates[cut - 1], &us);
		if (tarn_time_date(us + TARN_US_PER_DAY, next) == TARN_OK &&
		    strcmp(next, horizon) > 0)
			memcpy(horizon, next, sizeof(horizon));
	}
	if (horizon[0] && strcmp(horizon, lake->raw_horizon) > 0) {
		rc = setting_set(lake, "raw_horizon", horizon, 0);
		if (!rc) {
			memcpy(lake->raw_horizon, horizon, sizeof(horizon));
			tarn_time_parse_date(horizon, &lake->horizon_us);
		}
	}
	for (i = 0; !rc && i < cut; i++) {
		tarn__shard *s;
		uint64_t events = 0, bytes;
		int64_t day0;
		if (open_shard(lake, dates[i], &s) == TARN_OK)
			shard_size(s, &events, &bytes);
		forget_shard(lake, dates[i]);
		rc = tarn__shard_unlink(lake->dir, dates[i]);
		if (rc)
			break;
		tarn_time_parse_date(dates[i], &day0);
		tarn__idindex_forget_day(lake->ids, day_of(day0));
		res.shards++;
		res.events += events;
		res.bytes += sizes[i];
		if (lake->progress)
			lake->progress(lake->progress_ctx, res.events, res.bytes, 0, 0);
	}
	if (!rc && o && o->quarantine_days > 0)
		rc = prune_quarantine(lake, o->quarantine_days, &res.quarantine_rows);
	free(sizes);
	free(dates);
	memcpy(res.horizon, lake->raw_horizon, sizeof(res.horizon));
	if (r)
		*r = res;
	return rc;
}

/* ---- compaction ---- */

int tarn_lake_set_compact_after(tarn_lake *lake, int seconds)
{
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (seconds < 0)
		return tarn__error_set(TARN_EINVAL, "compact after %d s: want >= 0", seconds);
	lake->compact_after_s = seconds;
	return TARN_OK;
}

static int compact_shard(tarn_lake *lake, tarn__shard *s, tarn_compact_result *r)
{
	struct tarn__compact_result cr;
	int64_t day0, covered;
	int32_t day;
	int rc;

	if (tarn__shard_idle_small(s) < 2)
		return TARN_OK;
	tarn_time_parse_date(tarn__shard_date(s), &day0);
	day = day_of(day0);
	/* the index's runs first, so that its covered mark is the shard's end
	 * and can move past the new blocks below */
	tarn__idindex_flush(lake->ids, 1);
	covered = tarn__idindex_covered(lake->ids, day);
	r->bytes_before += file_and_wal_size(tarn__shard_path(s));
	rc = tarn__shard_compact(s, &cr);
	r->bytes_after += file_and_wal_size(tarn__shard_path(s));
	if (rc)
		return rc;
	if (cr.new_blocks && covered >= cr.old_max_block)
		tarn__idindex_set_covered(lake->ids, day, cr.new_max_block);
	r->shards += cr.old_blocks ? 1 : 0;
	r->old_blocks += cr.old_blocks;
	r->new_blocks += cr.new_blocks;
	r->events += cr.events;
	return TARN_OK;
}

int tarn_lake_compact(tarn_lake *lake, const char *date, tarn_compact_result *r)
{
	tarn_compact_result res;
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	int rc;

	memset(&res, 0, sizeof(res));
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	if (lake->pending || lake->gold_txn || lake->quar_txn)
		return tarn__error_set(TARN_EINVAL, "compact: commit the batch first");
	if (date && tarn_time_parse_date(date, NULL) != TARN_OK)
		return tarn__error_set(TARN_EINVAL, "'%s' is not a YYYY-MM-DD date", date);
	rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;
		if (date && strcmp(date, dates[i]) != 0)
			continue;
		rc = open_shard(lake, dates[i], &s);
		if (!rc)
			rc = compact_shard(lake, s, &res);
		if (!rc && lake->progress)
			lake->progress(lake->progress_ctx, res.events, res.bytes_before, 0, 0);
		if (date)
			break;
	}
	if (!rc && date && (i == n))
		rc = tarn__error_set(TARN_ENOTFOUND, "%s: no shard of %s", lake->dir, date);
	free(dates);
	if (r)
		*r = res;
	return rc;
}

/* ---- statistics ---- */

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint64_t file_and_wal_size(const char *path)
{
	size_t n = strlen(path);
	char *wal = malloc(n + 5);
	uint64_t total = file_size(path);

	if (wal) {
		memcpy(wal, path, n);
		memcpy(wal + n, "-wal", 5);
		total += file_size(wal);
		free(wal);
	}
	return total;
}

static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *p;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = tarn__path_join(dir, de->d_name);
		if (p && lstat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				total += dir_bytes(p);
			else if (S_ISREG(st.st_mode))
				total += (uint64_t)st.st_size;
		}
		free(p);
	}
	closedir(d);
	return total;
}

static int query_u64(sqlite3 *db, const char *sql, uint64_t *out, const char *what)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(db, sql, &st, what);

	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(st, 0);
		rc = TARN_OK;
	} else {
		rc = tarn__error_sqlite(db, "%s", what);
	}
	sqlite3_finalize(st);
	return rc;
}

static int shard_stats(tarn__shard *s, tarn_shard_stats *st)
{
	sqlite3 *db = tarn__shard_db(s);
	const char *path = tarn__shard_path(s);
	int rc;

	memset(st, 0, sizeof(*st));
	memcpy(st->date, tarn__shard_date(s), 11);
	rc = query_u64(db, "SELECT ifnull(sum(n_events), 0) FROM blocks", &st->events, path);
	if (!rc)
		rc = query_u64(db, "SELECT value FROM meta WHERE key='duplicates'", &st->duplicates,
			       path);
	if (!rc)
		rc = query_u64(db, "SELECT count(*) FROM blocks", &st->blocks, path);
	if (!rc)
		rc = query_u64(db, "SELECT ifnull(sum(raw_bytes), 0) FROM blocks", &st->raw_bytes,
			       path);
	if (!rc)
		rc = query_u64(db, "SELECT ifnull(sum(zstd_bytes), 0) FROM blocks", &st->zstd_bytes,
			       path);
	st->disk_bytes = file_and_wal_size(path);
	return rc;
}

int tarn_lake_stats_get(tarn_lake *lake, tarn_shard_stats_cb cb, void *ctx, tarn_lake_stats *out)
{
	tarn_lake_stats total;
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	int rc;

	memset(&total, 0, sizeof(total));
	memcpy(total.total.date, "total", 6);
	rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn_shard_stats st;
		tarn__shard *s;

		rc = open_shard(lake, dates[i], &s);
		if (!rc)
			rc = shard_stats(s, &st);
		if (rc)
			break;
		total.n_shards++;
		total.total.events += st.events;
		total.total.duplicates += st.duplicates;
		total.total.blocks += st.blocks;
		total.total.raw_bytes += st.raw_bytes;
		total.total.zstd_bytes += st.zstd_bytes;
		total.total.disk_bytes += st.disk_bytes;
		if (cb)
			rc = cb(ctx, &st);
	}
	free(dates);
	if (!rc)
		rc = query_u64(lake->quar_db, "SELECT count(*) FROM quarantine", &total.quarantined,
			       "quarantine.db");
	if (!rc)
		rc = query_u64(
			lake->quar_db,
			"SELECT count(*) FROM quarantine WHERE reason='conflicting_duplicate'",
			&total.conflicts, "quarantine.db");
	total.lake_disk_bytes = dir_bytes(lake->dir);
	if (out)
		*out = total;
	return rc;
}

/* ---- verification ---- */

struct verify {
	tarn_lake *lake;
	tarn_problem_cb cb;
	void *ctx;
	uint64_t problems;
};

static void problem(struct verify *v, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct verify *v, const char *file, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->problems++;
	if (v->cb)
		v->cb(v->ctx, file, msg);
}

static void check_integrity(struct verify *v, sqlite3 *db, const char *file)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
		problem(v, file, "integrity_check failed: %s", sqlite3_errmsg(db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t && strcmp(t, "ok") != 0)
			problem(v, file, "integrity_check: %s", t);
	}
	if (rc != SQLITE_DONE)
		problem(v, file, "integrity_check failed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* Every block decompresses (its zstd checksums hold), its events are in
 * order, match its row in `blocks` and belong to the shard's date. */
static void check_shard_content(struct verify *v, tarn__shard *s, const char *file)
{
	const struct tarn__span *spans;
	size_t n = tarn__shard_spans(s, &spans), k;
	tarn__block b;
	int64_t day0;

	tarn_time_parse_date(tarn__shard_date(s), &day0);
	tarn__block_init(&b);
	for (k = 0; k < n; k++) {
		const struct tarn__span *sp = &spans[k];

		if (tarn__shard_read_block(s, sp->block_id, 1, &b) != TARN_OK) {
			problem(v, file, "%s", tarn_error_last());
			continue;
		}
		if (b.n != sp->n_events || b.min_time != sp->min_time || b.max_time != sp->max_time)
			problem(v, file, "block %lld: its events disagree with its row in blocks",
				(long long)sp->block_id);
		if (b.min_time < day0 || b.max_time >= day0 + TARN_US_PER_DAY)
			problem(v, file, "block %lld: events outside the shard's date",
				(long long)sp->block_id);
	}
	tarn__block_free(&b);
}

void tarn_lake_set_progress(tarn_lake *lake, tarn_lake_progress_cb cb, void *ctx)
{
	lake->progress = cb;
	lake->progress_ctx = ctx;
}

static void shard_size(tarn__shard *s, uint64_t *events, uint64_t *bytes)
{
	sqlite3_stmt *st;

	*events = *bytes = 0;
	if (tarn__sql_prepare(
		    tarn__shard_db(s),
		    "SELECT ifnull(sum(n_events), 0), ifnull(sum(raw_bytes), 0) FROM blocks", &st,
		    tarn__shard_path(s)) != TARN_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*events = (uint64_t)sqlite3_column_int64(st, 0);
		*bytes = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
}

void tarn__lake_walk_begin(tarn_lake *lake, struct tarn__walk *w, char (*dates)[11], size_t n)
{
	size_t i;

	memset(w, 0, sizeof(*w));
	if (!lake->progress)
		return;
	for (i = 0; i < n; i++) {
		tarn__shard *s;
		uint64_t e, b;
		if (open_shard(lake, dates[i], &s) != TARN_OK)
			continue;
		shard_size(s, &e, &b);
		w->total_events += e;
		w->total_bytes += b;
	}
}

void tarn__lake_walk_step(tarn_lake *lake, struct tarn__walk *w, tarn__shard *s)
{
	uint64_t e, b;

	if (!lake->progress || !s)
		return;
	shard_size(s, &e, &b);
	w->events += e;
	w->bytes += b;
	lake->progress(lake->progress_ctx, w->events, w->bytes, w->total_events, w->total_bytes);
}

/* ids.db must know every stored id: those in its runs plus those of the
 * blocks after its covered mark (which a writer re-reads) are at least the
 * events the shards hold (more when a shard was deleted). */
struct id_check {
	sqlite3 *db;
	sqlite3_stmt *covered;
	uint64_t run_ids, uncovered, events;
};

static void id_check_open(struct verify *v, struct id_check *c)
{
	char *path = tarn__path_join(v->lake->dir, "ids.db");

	memset(c, 0, sizeof(*c));
	if (!path)
		return;
	if (access(path, F_OK) == 0) {
		if (tarn__sql_open(&c->db, path, 1, 0) != TARN_OK) {
			problem(v, "ids.db", "%s", tarn_error_last());
		} else {
			check_integrity(v, c->db, "ids.db");
			if (query_u64(c->db, "SELECT ifnull(sum(n_ids), 0) FROM runs", &c->run_ids,
				      "ids.db") ||
			    tarn__sql_prepare(c->db, "SELECT block_id FROM covered WHERE day=?",
					      &c->covered, "ids.db"))
				problem(v, "ids.db", "%s", tarn_error_last());
		}
	}
	free(path);
}

static void id_check_shard(struct id_check *c, tarn__shard *s)
{
	const struct tarn__span *sp;
	size_t n = tarn__shard_spans(s, &sp), k;
	int64_t day0, covered = 0;

	tarn_time_parse_date(tarn__shard_date(s), &day0);
	if (c->covered) {
		sqlite3_reset(c->covered);
		sqlite3_bind_int64(c->covered, 1, day_of(day0));
		if (sqlite3_step(c->covered) == SQLITE_ROW)
			covered = sqlite3_column_int64(c->covered, 0);
		sqlite3_reset(c->covered);
	}
	for (k = 0; k < n; k++) {
		c->events += sp[k].n_events;
		if (sp[k].block_id > covered)
			c->uncovered += sp[k].n_events;
	}
}

static void id_check_close(struct verify *v, struct id_check *c)
{
	if (c->events && c->run_ids + c->uncovered < c->events)
		problem(v, "ids.db",
			"knows %llu ids, the shards hold %llu events: re-deliveries of the"
			" others would be stored twice",
			(unsigned long long)(c->run_ids + c->uncovered),
			(unsigned long long)c->events);
	sqlite3_finalize(c->covered);
	sqlite3_close(c->db);
}

static void odd_name(void *ctx, const char *name)
{
	struct verify *v = ctx;
	char file[512];

	snprintf(file, sizeof(file), "shards/%s", name);
	problem(v, file, "not a shard name (YYYY-MM-DD.db); ignored");
}

/* Compare one stored gold table with its recomputation in main. */
static void compare_table(struct verify *v, sqlite3 *mem, const char *t)
{
	char sql[512];
	uint64_t missing = 0, extra = 0;

	/* t is a gold table's name or a declared aggregate's (an identifier
	 * checked when declared), never other input */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT * FROM main.\"%s\" EXCEPT SELECT * FROM g.\"%s\")",
		 t, t);
	if (query_u64(mem, sql, &missing, "verify gold")) {
		problem(v, "gold.db", "%s: %s", t, tarn_error_last());
		return;
	}
	/* days without a readable shard (retention, damage) cannot be
	 * recomputed; their gold rows are kept and not compared */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT * FROM g.\"%s\" WHERE event_date IN"
		 " (SELECT event_date FROM temp.checked) EXCEPT SELECT * FROM main.\"%s\")",
		 t, t);
	if (query_u64(mem, sql, &extra, "verify gold")) {
		problem(v, "gold.db", "%s: %s", t, tarn_error_last());
		return;
	}
	if (missing || extra)
		problem(v, "gold.db",
			"%s differs from its recomputation: %llu rows missing or wrong,"
			" %llu rows extra or wrong",
			t, (unsigned long long)missing, (unsigned long long)extra);
}

/* Compare stored gold (the built-in tables and the declared aggregates g
 * recomputed) with the recomputation held in an in-memory database. */
static void compare_gold(struct verify *v, sqlite3 *mem, const tarn__gold *g)
{
	const char *const *t;
	size_t i;

	for (t = tarn_gold_tables(); *t; t++)
		compare_table(v, mem, *t);
	for (i = 0; i < tarn__gold_n_aggregates(g); i++)
		compare_table(v, mem, tarn__gold_aggregate_name(g, i));
}

static int open_memory_gold(tarn_lake *lake, sqlite3 **mem, tarn__gold **g)
{
	char *path = tarn__path_join(lake->dir, "gold.db");
	sqlite3_stmt *st = NULL;
	int rc;

	*mem = NULL;
	*g = NULL;
	if (!path)
		return tarn__error_set(TARN_ENOMEM, "verify");
	if (sqlite3_open(":memory:", mem) != SQLITE_OK) {
		free(path);
		return tarn__error_sqlite(*mem, "verify: memory database");
	}
	rc = tarn__gold_attach(g, *mem, 1);
	if (!rc)
		rc = tarn__sql_prepare(*mem, "ATTACH ? AS g", &st, "verify: attach gold.db");
	if (!rc) {
		sqlite3_db_config(*mem, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(*mem, "verify: attach gold.db");
	}
	sqlite3_finalize(st);
	/* the declarations of gold.db, recomputed in main by the same engine */
	if (!rc)
		rc = tarn__gold_aggregates(*g, "g", 1);
	free(path);
	return rc;
}

static void note_checked(sqlite3 *mem, const char *date)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(mem, "INSERT INTO temp.checked VALUES(?)", -1, &st, NULL) !=
	    SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

sqlite3 *tarn__lake_gold_db(tarn_lake *lake)
{
	return lake->gold_db;
}

int tarn__lake_reload_aggregates(tarn_lake *lake)
{
	return tarn__gold_aggregates(lake->gold, "main", 0);
}

int tarn__lake_idle(const tarn_lake *lake)
{
	return !lake->readonly && !(lake->pending || lake->gold_txn || lake->quar_txn);
}

static int commit_pending(tarn_lake *lake);

int tarn__lake_settle(tarn_lake *lake)
{
	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	return commit_pending(lake);
}

/* Work over the whole lake's gold (verify, rebuild) reads the shards through
 * the writer's own connections, which see a batch not yet committed while
 * gold.db does not have it yet: commit the batch first, so that both sides
 * are what is on disk. */
static int commit_pending(tarn_lake *lake)
{
	if (lake->readonly || !(lake->pending || lake->gold_txn || lake->quar_txn))
		return TARN_OK;
	return tarn_lake_commit(lake);
}

int tarn_lake_verify(tarn_lake *lake, tarn_problem_cb cb, void *ctx, uint64_t *n_problems)
{
	struct verify v = { lake, cb, ctx, 0 };
	struct id_check idc;
	struct tarn__walk w;
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	sqlite3 *mem = NULL;
	tarn__gold *g = NULL;
	int rc = commit_pending(lake);

	if (rc)
		return rc;
	check_integrity(&v, lake->catalog, "lake.db");
	check_integrity(&v, lake->gold_db, "gold.db");
	check_integrity(&v, lake->quar_db, "quarantine.db");
	id_check_open(&v, &idc);
	rc = open_memory_gold(lake, &mem, &g);
	if (!rc)
		rc = tarn__sql_exec(mem,
				    "CREATE TEMP TABLE checked(event_date TEXT PRIMARY KEY);"
				    " BEGIN",
				    "verify");
	if (!rc)
		rc = tarn__shard_list(lake->dir, &dates, &n, odd_name, &v);
	if (!rc)
		tarn__lake_walk_begin(lake, &w, dates, n);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		char file[32];
		tarn__shard *s;
		int64_t seq, mark;
		int src;

		snprintf(file, sizeof(file), "shards/%s.db", dates[i]);
		src = open_shard(lake, dates[i], &s);
		if (src) {
			problem(&v, file, "%s", tarn_error_last());
			continue;
		}
		check_integrity(&v, tarn__shard_db(s), file);
		check_shard_content(&v, s, file);
		id_check_shard(&idc, s);
		tarn__lake_walk_step(lake, &w, s);
		if (tarn__gold_recompute_day(g, s, &lake->extract) != TARN_OK) {
			problem(&v, file, "cannot recompute gold: %s", tarn_error_last());
			continue;
		}
		note_checked(mem, dates[i]);
		if (tarn__shard_seq(s, &seq) == TARN_OK &&
		    tarn__gold_watermark_get(lake->gold, dates[i], &mark) == TARN_OK && mark != seq)
			problem(&v, "gold.db", "watermark of %s is %lld, shard is at %lld",
				dates[i], (long long)mark, (long long)seq);
	}
	free(dates);
	id_check_close(&v, &idc);
	if (!rc)
		rc = prune_minutes(lake, mem);
	if (!rc)
		compare_gold(&v, mem, g);
	tarn__gold_detach(g);
	sqlite3_close(mem);
	if (n_problems)
		*n_problems = v.problems;
	if (rc)
		return rc;
	if (v.problems)
		return tarn__error_set(TARN_ECORRUPT, "%llu problems found",
				       (unsigned long long)v.problems);
	return TARN_OK;
}

/* Add the event dates of gold.db's table `table` to temp.tarn_gold_days. */
static int note_gold_days(sqlite3 *db, const char *table)
{
	char sql[200];

	snprintf(sql, sizeof(sql),
		 "INSERT OR IGNORE INTO temp.tarn_gold_days SELECT DISTINCT event_date FROM"
		 " main.\"%s\"",
		 table);
	return tarn__sql_exec(db, sql, "gold.db");
}

int tarn_lake_gold_only_days(tarn_lake *lake, tarn_date_cb cb, void *ctx)
{
	sqlite3 *db = lake->gold_db;
	char(*dates)[11] = NULL;
	const char *const *t;
	sqlite3_stmt *st = NULL;
	size_t n = 0, i;
	int rc, step;

	rc = tarn__sql_exec(db,
			    "CREATE TEMP TABLE IF NOT EXISTS tarn_gold_days(d TEXT PRIMARY KEY);"
			    " DELETE FROM temp.tarn_gold_days;",
			    "gold.db");
	if (!rc)
		rc = note_gold_days(db, "watermarks");
	for (t = tarn_gold_tables(); !rc && *t; t++)
		rc = note_gold_days(db, *t);
	/* the declared aggregates' tables, from the catalog (a read-only lake
	 * has not loaded them) */
	if (!rc)
		rc = tarn__sql_prepare(
			db,
			"SELECT name FROM main.sqlite_master WHERE type = 'table' AND"
			" name IN (SELECT name FROM main.aggregates WHERE state = 'ready')",
			&st, "gold.db");
	if (rc == TARN_ESQLITE && strstr(tarn_error_last(), "no such table"))
		rc = TARN_OK; /* a lake from before declared aggregates */
	while (!rc && st && sqlite3_step(st) == SQLITE_ROW)
		rc = note_gold_days(db, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (!rc)
		rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	if (!rc)
		rc = tarn__sql_prepare(db, "DELETE FROM temp.tarn_gold_days WHERE d = ?", &st,
				       "gold.db");
	for (i = 0; !rc && i < n; i++) {
		sqlite3_bind_text(st, 1, dates[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(db, "gold.db");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	free(dates);
	if (!rc)
		rc = tarn__sql_prepare(db, "SELECT d FROM temp.tarn_gold_days ORDER BY d", &st,
				       "gold.db");
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb(ctx, (const char *)sqlite3_column_text(st, 0));
	if (!rc && step != SQLITE_DONE)
		rc = tarn__error_sqlite(db, "gold.db");
	sqlite3_finalize(st);
	return rc;
}

/* The shards a rebuild could not read, for its error message. */
struct damaged {
	size_t n;
	char msg[1024];
};

static void note_damaged(struct damaged *d, const char *date)
{
	const char *why = tarn_error_last();
	char name[32];
	size_t l = strlen(d->msg);

	snprintf(name, sizeof(name), "shards/%s.db", date);
	if (d->n++)
		snprintf(d->msg + l, sizeof(d->msg) - l, "; ");
	l = strlen(d->msg);
	/* the detail names the file most of the time; never twice */
	if (strstr(why, name))
		snprintf(d->msg + l, sizeof(d->msg) - l, "%s", why);
	else
		snprintf(d->msg + l, sizeof(d->msg) - l, "%s: %s", name, why);
}

/* Recompute one day inside a savepoint of the open gold transaction. A shard
 * that cannot be read (open or scan) leaves its day's gold rows as they
 * were and is noted in *d; only running out of memory or disk, or gold.db
 * itself failing, stops the rebuild. */
static int rebuild_day(tarn_lake *lake, const char *date, struct damaged *d, tarn__shard **out)
{
	int rc = tarn__sql_exec(lake->gold_db, "SAVEPOINT day", "gold.db");

	*out = NULL;
	if (rc)
		return rc;
	rc = open_shard(lake, date, out);
	if (!rc)
		rc = tarn__gold_recompute_day(lake->gold, *out, &lake->extract);
	if (rc == TARN_ENOMEM || rc == TARN_ENOSPC)
		return rc;
	if (rc) {
		note_damaged(d, date);
		*out = NULL;
		return tarn__sql_exec(lake->gold_db, "ROLLBACK TO day; RELEASE day", "gold.db");
	}
	return tarn__sql_exec(lake->gold_db, "RELEASE day", "gold.db");
}

int tarn_gold_rebuild(tarn_lake *lake)
{
	char(*dates)[11] = NULL;
	struct damaged dmg = { 0, "" };
	struct tarn__walk w;
	size_t n = 0, i;
	int rc;

	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	rc = commit_pending(lake);
	if (!rc)
		rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	if (!rc)
		rc = gold_begin(lake);
	if (!rc)
		tarn__lake_walk_begin(lake, &w, dates, n);
	/* Days whose shard is gone (retention) keep their gold rows: gold
	 * outlives raw data. */
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;

		rc = rebuild_day(lake, dates[i], &dmg, &s);
		if (!rc)
			tarn__lake_walk_step(lake, &w, s);
	}
	free(dates);
	if (!rc)
		rc = prune_minutes(lake, lake->gold_db);
	if (!rc) {
		rc = tarn__sql_exec(lake->gold_db, "COMMIT", "gold.db");
		lake->gold_txn = 0;
	}
	if (rc) {
		tarn_lake_rollback(lake);
		return rc;
	}
	if (dmg.n)
		return tarn__error_set(TARN_ECORRUPT,
				       "%zu shard%s cannot be read (the gold of %s is kept as it"
				       " was; every other day is rebuilt): %s",
				       dmg.n, dmg.n == 1 ? "" : "s",
				       dmg.n == 1 ? "its day" : "their days", dmg.msg);
	return TARN_OK;
}
