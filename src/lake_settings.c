/* A lake's remembered settings (lake.db's settings table): the field
 * mapping of its first ingest, --minute-days, --keep-days and the raw
 * horizon that prune leaves. */
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
int tarn__lake_load_settings(tarn_lake *lake)
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

int tarn__lake_setting_set(tarn_lake *lake, const char *key, const char *text, int64_t num)
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
	rc = tarn__lake_setting_set(lake, key, NULL, days);
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
void tarn__lake_days_ago(int back, char out[11])
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
		tarn__lake_days_ago(lake->minute_days - 1, out);
}

/* Delete the per-minute rows before the horizon from db's gold tables. */
int tarn__lake_prune_minutes(const tarn_lake *lake, sqlite3 *db)
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
