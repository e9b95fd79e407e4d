/* Replay: read stored events back in event-time order, shard by shard. */
#include <stdlib.h>
#include <string.h>

#include "tarn/replay.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "lake_internal.h"

struct filter {
	const tarn_replay_options *opts;
	tarn_replay_cb cb;
	void *ctx;
	uint64_t n;
};

int tarn_replay_position_cmp(const tarn_event *ev, const tarn_replay_position *pos)
{
	size_t n;
	int c;

	if (ev->time_us != pos->time_us)
		return ev->time_us < pos->time_us ? -1 : 1;
	/* SQLite orders TEXT before BLOB, and each by memcmp then length */
	if (ev->id_is_uuid != pos->id_is_uuid)
		return ev->id_is_uuid ? 1 : -1;
	n = ev->id_len < pos->id_len ? ev->id_len : pos->id_len;
	c = memcmp(ev->id, pos->id, n);
	if (c)
		return c;
	return ev->id_len == pos->id_len ? 0 : (ev->id_len < pos->id_len ? -1 : 1);
}

void tarn_replay_position_of(const tarn_event *ev, tarn_replay_position *pos)
{
	pos->time_us = ev->time_us;
	memcpy(pos->id, ev->id, ev->id_len);
	pos->id_len = ev->id_len;
	pos->id_is_uuid = ev->id_is_uuid;
}

static int keep(void *ctx, const tarn_event *ev)
{
	struct filter *f = ctx;
	size_t i;

	if (f->opts->after && tarn_replay_position_cmp(ev, f->opts->after) <= 0)
		return 0;

	if (f->opts->n_names) {
		if (!ev->has_name)
			return 0;
		for (i = 0; i < f->opts->n_names; i++)
			if (strcmp(f->opts->names[i], ev->name) == 0)
				break;
		if (i == f->opts->n_names)
			return 0;
	}
	f->n++;
	return f->cb(f->ctx, ev);
}

int tarn_replay_scan(tarn_lake *lake, const tarn_replay_options *opts, tarn_replay_cb cb, void *ctx,
		     uint64_t *n_events)
{
	tarn_replay_options defaults = TARN_REPLAY_OPTIONS_INIT;
	struct filter f = { opts ? opts : &defaults, cb, ctx, 0 };
	char(*dates)[11] = NULL;
	char lo[11] = "0000-00-00", hi[11] = "9999-99-99";
	size_t n = 0, i;
	int rc;

	int64_t since = f.opts->since_us;
	tarn_replay_options narrowed;

	/* a checkpoint moves the lower bound: whole earlier shards are skipped */
	if (f.opts->after && f.opts->after->time_us > since) {
		narrowed = *f.opts;
		narrowed.since_us = since = f.opts->after->time_us;
		f.opts = &narrowed;
	}
	if (since > TARN_TIME_MIN_US && since <= TARN_TIME_MAX_US)
		tarn_time_date(since, lo);
	if (f.opts->until_us > TARN_TIME_MIN_US && f.opts->until_us <= TARN_TIME_MAX_US)
		tarn_time_date(f.opts->until_us - 1, hi);
	rc = tarn__shard_list(tarn_lake_dir(lake), &dates, &n, NULL, NULL);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;

		/* shard names are dates, so string order is time order */
		if (strcmp(dates[i], lo) < 0 || strcmp(dates[i], hi) > 0)
			continue;
		rc = tarn__shard_open(&s, tarn_lake_dir(lake), dates[i], 1, 0);
		if (rc == TARN_ENOTFOUND) {
			rc = TARN_OK; /* pruned since the list was read, or being created */
			continue;
		}
		if (rc)
			break;
		rc = tarn__shard_scan(s, f.opts->since_us, f.opts->until_us, 1, keep, &f, NULL);
		tarn__shard_close(s);
	}
	free(dates);
	if (n_events)
		*n_events = f.n;
	return rc;
}

/* ---- checkpoints (LAKE/checkpoints.db) ---- */

static int open_checkpoints(const char *lake_dir, int create, sqlite3 **db)
{
	char *path = tarn__path_join(lake_dir, "checkpoints.db");
	int rc;

	if (!path)
		return tarn__error_set(TARN_ENOMEM, "checkpoints");
	rc = tarn__sql_open(db, path, 0, create ? 0600 : 0);
	/* the table and the stamp in one transaction: a power cut between
	 * them left a file that every later replay refused as not tarn's
	 * (tests/powerloss, replay-checkpoint) */
	if (!rc)
		rc = tarn__sql_exec(*db, "BEGIN IMMEDIATE", path);
	if (!rc)
		rc = tarn__sql_exec(*db,
				    "CREATE TABLE IF NOT EXISTS checkpoints(name TEXT PRIMARY KEY,"
				    " event_time INTEGER NOT NULL, event_id NOT NULL,"
				    " updated_at INTEGER NOT NULL) WITHOUT ROWID",
				    path);
	if (!rc)
		rc = tarn__sql_stamp(*db, path);
	if (!rc)
		rc = tarn__sql_exec(*db, "COMMIT", path);
	free(path);
	if (rc) {
		sqlite3_close(*db);
		*db = NULL;
	}
	return rc;
}

int tarn_replay_checkpoint_get(const char *lake_dir, const char *name, tarn_replay_position *out)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int rc = open_checkpoints(lake_dir, 0, &db);

	if (rc)
		return rc;
	rc = tarn__sql_prepare(db, "SELECT event_time, event_id FROM checkpoints WHERE name=?", &st,
			       "checkpoints.db");
	if (!rc) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			int n = sqlite3_column_bytes(st, 1);
			out->time_us = sqlite3_column_int64(st, 0);
			out->id_is_uuid = sqlite3_column_type(st, 1) == SQLITE_BLOB;
			out->id_len = n > 0 && n <= TARN_ID_MAX ? (size_t)n : 0;
			memcpy(out->id, sqlite3_column_blob(st, 1), out->id_len);
			rc = out->id_len ? TARN_OK
					 : tarn__error_set(TARN_ECORRUPT, "checkpoint %s: bad id",
							   name);
		} else if (rc == SQLITE_DONE) {
			rc = tarn__error_set(TARN_ENOTFOUND, "no checkpoint named %s", name);
		} else {
			rc = tarn__error_sqlite(db, "checkpoints.db: read %s", name);
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return rc;
}

int tarn_replay_checkpoint_set(const char *lake_dir, const char *name,
			       const tarn_replay_position *pos)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int rc;

	if (!name || !*name)
		return tarn__error_set(TARN_EINVAL, "a checkpoint needs a name");
	rc = open_checkpoints(lake_dir, 1, &db);
	if (rc)
		return rc;
	rc = tarn__sql_prepare(db, "INSERT OR REPLACE INTO checkpoints VALUES(?, ?, ?, ?)", &st,
			       "checkpoints.db");
	if (!rc) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, pos->time_us);
		if (pos->id_is_uuid)
			sqlite3_bind_blob(st, 3, pos->id, (int)pos->id_len, SQLITE_STATIC);
		else
			sqlite3_bind_text(st, 3, (const char *)pos->id, (int)pos->id_len,
					  SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, tarn_time_now_us());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(db, "checkpoints.db: write %s", name);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return rc;
}
