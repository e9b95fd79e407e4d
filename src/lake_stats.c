/* Statistics of a lake (tarn stats) and the progress of work over its
 * shards. */
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
#include "lake.h"
#include "sqlutil.h"

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

uint64_t tarn__lake_file_bytes(const char *path)
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

int tarn__lake_query_u64(sqlite3 *db, const char *sql, uint64_t *out, const char *what)
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
	rc = tarn__lake_query_u64(db, "SELECT ifnull(sum(n_events), 0) FROM blocks", &st->events,
				  path);
	if (!rc)
		rc = tarn__lake_query_u64(db, "SELECT value FROM meta WHERE key='duplicates'",
					  &st->duplicates, path);
	if (!rc)
		rc = tarn__lake_query_u64(db, "SELECT count(*) FROM blocks", &st->blocks, path);
	if (!rc)
		rc = tarn__lake_query_u64(db, "SELECT ifnull(sum(raw_bytes), 0) FROM blocks",
					  &st->raw_bytes, path);
	if (!rc)
		rc = tarn__lake_query_u64(db, "SELECT ifnull(sum(zstd_bytes), 0) FROM blocks",
					  &st->zstd_bytes, path);
	st->disk_bytes = tarn__lake_file_bytes(path);
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

		rc = tarn__lake_open_shard(lake, dates[i], &s);
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
		rc = tarn__lake_query_u64(lake->quar_db, "SELECT count(*) FROM quarantine",
					  &total.quarantined, "quarantine.db");
	if (!rc)
		rc = tarn__lake_query_u64(
			lake->quar_db,
			"SELECT count(*) FROM quarantine WHERE reason='conflicting_duplicate'",
			&total.conflicts, "quarantine.db");
	total.lake_disk_bytes = dir_bytes(lake->dir);
	if (out)
		*out = total;
	return rc;
}

void tarn_lake_set_progress(tarn_lake *lake, tarn_lake_progress_cb cb, void *ctx)
{
	lake->progress = cb;
	lake->progress_ctx = ctx;
}

void tarn__lake_shard_size(tarn__shard *s, uint64_t *events, uint64_t *bytes)
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
		if (tarn__lake_open_shard(lake, dates[i], &s) != TARN_OK)
			continue;
		tarn__lake_shard_size(s, &e, &b);
		w->total_events += e;
		w->total_bytes += b;
	}
}

void tarn__lake_walk_step(tarn_lake *lake, struct tarn__walk *w, tarn__shard *s)
{
	uint64_t e, b;

	if (!lake->progress || !s)
		return;
	tarn__lake_shard_size(s, &e, &b);
	w->events += e;
	w->bytes += b;
	lake->progress(lake->progress_ctx, w->events, w->bytes, w->total_events, w->total_bytes);
}
