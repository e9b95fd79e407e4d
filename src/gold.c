/* Gold tables (README.md, "Gold tables"), kept incrementally: every stored
 * event updates its day's rows in the same gold.db transaction; a day can
 * always be recomputed from its shard. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarn/time.h"
#include "aggregate.h"
#include "error_internal.h"
#include "hash.h"
#include "lake_internal.h"

const char tarn__gold_schema[] =
	"CREATE TABLE IF NOT EXISTS daily_active_users(event_date TEXT PRIMARY KEY,"
	" dau_count INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS conversion_rate_daily(event_date TEXT PRIMARY KEY,"
	" dau_count INTEGER NOT NULL, purchasers INTEGER NOT NULL,"
	" total_purchases INTEGER NOT NULL, conversion_rate REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events_per_source_daily(event_date TEXT NOT NULL,"
	" source TEXT NOT NULL, event_count INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, source));"
	"CREATE TABLE IF NOT EXISTS purchases_per_page_daily(event_date TEXT NOT NULL,"
	" page TEXT NOT NULL, purchase_count INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, page));"
	"CREATE TABLE IF NOT EXISTS events_per_name_daily(event_date TEXT NOT NULL,"
	" event_name TEXT, event_count INTEGER NOT NULL, bytes INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS events_per_name_key ON"
	" events_per_name_daily(event_date, ifnull(event_name, x''));"
	/* the speed layer: per UTC minute of event time */
	"CREATE TABLE IF NOT EXISTS events_per_minute(event_date TEXT NOT NULL,"
	" window_start TEXT NOT NULL, event_type TEXT NOT NULL, event_count INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, window_start, event_type)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS logins_per_source(event_date TEXT NOT NULL,"
	" window_start TEXT NOT NULL, source TEXT NOT NULL, login_count INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, window_start, source)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS purchases_per_minute(event_date TEXT NOT NULL,"
	" window_start TEXT NOT NULL, purchase_count INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, window_start)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS day_users(event_date TEXT NOT NULL,"
	" user_id TEXT NOT NULL, purchases INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, user_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS watermarks(event_date TEXT PRIMARY KEY,"
	" shard_seq INTEGER NOT NULL);";

static const char *const gold_tables[] = {
	"daily_active_users",	    "conversion_rate_daily", "events_per_source_daily",
	"purchases_per_page_daily", "events_per_name_daily", "events_per_minute",
	"logins_per_source",	    "purchases_per_minute",  NULL
};

/* The per-minute tables (the speed layer), a subset of gold_tables. */
static const char *const minute_tables[] = { "events_per_minute", "logins_per_source",
					     "purchases_per_minute", NULL };

const char *const *tarn_gold_minute_tables(void)
{
	return minute_tables;
}

const char *const *tarn_gold_tables(void)
{
	return gold_tables;
}

enum {
	ST_USER_GET,
	ST_USER_INS,
	ST_USER_BUY,
	ST_CONV,
	ST_SOURCE,
	ST_PAGE,
	ST_NAME_UPD,
	ST_NAME_INS,
	ST_WM_GET,
	ST_WM_SET,
	ST_EPM,
	ST_LPS,
	ST_PPM,
	ST_DAY_USERS,
	ST_COUNT
};

static const char *const gold_sql[ST_COUNT] = {
	[ST_USER_GET] = "SELECT purchases FROM day_users WHERE event_date=? AND user_id=?",
	[ST_USER_INS] = "INSERT INTO day_users(event_date, user_id, purchases) VALUES(?,?,?)",
	/* day_users.purchases says whether the user bought that day (1) or not
	 * (0): only that decides purchasers, so it is written once, not per
	 * batch and purchase (lakes from before 2026-11-25 hold counts; > 0 is
	 * all that is read) */
	[ST_USER_BUY] = "UPDATE day_users SET purchases=?3 WHERE event_date=?1 AND user_id=?2",
	/* ?2 new users, ?3 new purchasers, ?4 purchases */
	[ST_CONV] = "INSERT INTO conversion_rate_daily VALUES(?1, ?2, ?3, ?4,"
		    " CASE WHEN ?2 > 0 THEN CAST(?3 AS REAL) / ?2 ELSE 0.0 END)"
		    " ON CONFLICT(event_date) DO UPDATE SET"
		    " dau_count=dau_count+?2, purchasers=purchasers+?3,"
		    " total_purchases=total_purchases+?4,"
		    " conversion_rate=CASE WHEN dau_count+?2 > 0 THEN"
		    " CAST(purchasers+?3 AS REAL) / (dau_count+?2) ELSE 0.0 END",
	[ST_SOURCE] = "INSERT INTO events_per_source_daily VALUES(?1, ?2, ?3)"
		      " ON CONFLICT(event_date, source) DO UPDATE SET event_count=event_count+?3",
	[ST_PAGE] = "INSERT INTO purchases_per_page_daily VALUES(?1, ?2, ?3)"
		    " ON CONFLICT(event_date, page) DO UPDATE SET purchase_count=purchase_count+?3",
	[ST_NAME_UPD] = "UPDATE events_per_name_daily SET event_count=event_count+?3,"
			" bytes=bytes+?4 WHERE event_date=?1 AND event_name IS ?2",
	[ST_NAME_INS] = "INSERT INTO events_per_name_daily VALUES(?1, ?2, ?3, ?4)",
	[ST_WM_GET] = "SELECT shard_seq FROM watermarks WHERE event_date=?",
	[ST_WM_SET] = "INSERT OR REPLACE INTO watermarks VALUES(?, ?)",
	/* ?1 date, ?2 window_start, ?3 type or source, ?4 count */
	[ST_EPM] = "INSERT INTO events_per_minute VALUES(?1, ?2, ?3, ?4)"
		   " ON CONFLICT DO UPDATE SET event_count=event_count+?4",
	[ST_LPS] = "INSERT INTO logins_per_source VALUES(?1, ?2, ?3, ?4)"
		   " ON CONFLICT DO UPDATE SET login_count=login_count+?4",
	/* ?3 unused */
	[ST_PPM] = "INSERT INTO purchases_per_minute VALUES(?1, ?2, ?4)"
		   " ON CONFLICT DO UPDATE SET purchase_count=purchase_count+?4",
	[ST_DAY_USERS] = "SELECT 1 FROM day_users WHERE event_date=? LIMIT 1",
};

/* A small string-keyed hash table (open addressing, linear probing) of
 * per-batch counters. */
struct entry {
	char *key; /* NULL: empty slot */
	uint64_t hash;
	int64_t a, b; /* counters, meaning set by the table's user */
	int flags;
	uint32_t len; /* of key */
	uint32_t ix;  /* 0, 1, 2...: the order keys came in; names the
		       * key in a struct counts */
	char inl[16]; /* key holds this when it fits: one cache line
		       * per probe, no allocation per key */
};

struct table {
	struct entry *e;
	size_t n, cap; /* cap is 0 or a power of two */
};

/* Per-minute counters keyed by (minute of the day, ix of a struct table's
 * key): open addressing on integers, so that an event costs no string
 * key of its own per minute table. */
struct cell {
	uint64_t key; /* ((minute << 32) | ix) + 1; 0: empty slot */
	int64_t n;
};

struct counts {
	struct cell *c;
	size_t n, cap; /* cap is 0 or a power of two */
};

/* The deltas of one event date in the open batch. */
struct day {
	char date[11];
	struct table names; /* a: events, b: payload bytes */
	int64_t null_names, null_name_bytes;
	struct table sources; /* a: events */
	struct table pages;   /* a: purchases */
	struct table users;   /* a: purchases before the batch + in it, b: in it;
			       * flags: USER_* */
	struct table types;   /* event types met; flags: TYPE_* */
	/* per minute: by event type (ix in types), logins by source (ix in
	 * sources), purchases (ix 0) */
	struct counts minute_types, minute_logins, minute_buys;
	int64_t new_users, new_purchasers, purchases;
	int dirty;    /* has deltas not yet written */
	int complete; /* day_users had no row of the date when the day
		       * was met: every user it has since is in users,
		       * so a user not there is new without asking */
};

/* After its batch is written, a day keeps its users (flag USER_STORED, b
 * = 0) so that the next batch need not ask day_users again for each of
 * them; at most this many users across all days are kept (about 100
 * bytes each), the cache of quiet days going first. */
#define USERS_CACHED 32768

#define USER_STORED   1 /* day_users already had the user before the batch */
#define TYPE_PURCHASE 1 /* the event type "purchase" */
#define TYPE_LOGIN    2 /* the event type "login" */

struct tarn__gold {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	tarn__aggset *aggs; /* the declared aggregates (NULL: none loaded) */
	struct day *days;
	size_t n_days, days_cap;
};

static void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->e[i].key != t->e[i].inl)
			free(t->e[i].key);
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static int table_grow(struct table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 16, i;
	struct entry *e = calloc(cap, sizeof(*e));

	if (!e)
		return tarn__error_set(TARN_ENOMEM, "gold batch");
	for (i = 0; i < t->cap; i++) {
		size_t j;
		if (!t->e[i].key)
			continue;
		for (j = t->e[i].hash & (cap - 1); e[j].key; j = (j + 1) & (cap - 1))
			;
		e[j] = t->e[i];
		if (t->e[i].key == t->e[i].inl)
			e[j].key = e[j].inl;
	}
	free(t->e);
	t->e = e;
	t->cap = cap;
	return TARN_OK;
}

/* The entry of key, created zeroed when new (*created = 1). */
static int table_get(struct table *t, const char *key, struct entry **out, int *created)
{
	size_t n = strlen(key), j;
	uint64_t h = tarn__hash_bytes(key, n);

	*created = 0;
	if (4 * (t->n + 1) > 3 * t->cap && table_grow(t))
		return TARN_ENOMEM;
	for (j = h & (t->cap - 1); t->e[j].key; j = (j + 1) & (t->cap - 1)) {
		if (t->e[j].hash == h && t->e[j].len == n && memcmp(t->e[j].key, key, n) == 0) {
			*out = &t->e[j];
			return TARN_OK;
		}
	}
	t->e[j].len = (uint32_t)n;
	if (n < sizeof(t->e[j].inl))
		t->e[j].key = memcpy(t->e[j].inl, key, n + 1);
	else
		t->e[j].key = strdup(key);
	if (!t->e[j].key)
		return tarn__error_set(TARN_ENOMEM, "gold batch");
	t->e[j].hash = h;
	t->e[j].ix = (uint32_t)t->n;
	t->n++;
	*created = 1;
	*out = &t->e[j];
	return TARN_OK;
}

/* Start loading the slot where table_get begins its probe for key. */
static void table_prefetch(const struct table *t, const char *key)
{
	const char *slot;

	if (!t->cap)
		return;
	slot = (const char *)&t->e[tarn__hash_bytes(key, strlen(key)) & (t->cap - 1)];
	__builtin_prefetch(slot);
	__builtin_prefetch(slot + sizeof(struct entry) - 1);
}

static uint64_t cell_hash(uint64_t key)
{
	return tarn__hash_bytes(&key, sizeof(key));
}

static int counts_grow(struct counts *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64, i;
	struct cell *c = calloc(cap, sizeof(*c));

	if (!c)
		return tarn__error_set(TARN_ENOMEM, "gold batch");
	for (i = 0; i < t->cap; i++) {
		size_t j;
		if (!t->c[i].key)
			continue;
		for (j = cell_hash(t->c[i].key) & (cap - 1); c[j].key; j = (j + 1) & (cap - 1))
			;
		c[j] = t->c[i];
	}
	free(t->c);
	t->c = c;
	t->cap = cap;
	return TARN_OK;
}

/* Add one to the counter of (minute of the day, ix). */
static int counts_add(struct counts *t, int minute, uint32_t ix)
{
	uint64_t key = (((uint64_t)minute << 32) | ix) + 1;
	size_t j;

	if (4 * (t->n + 1) > 3 * t->cap && counts_grow(t))
		return TARN_ENOMEM;
	for (j = cell_hash(key) & (t->cap - 1); t->c[j].key; j = (j + 1) & (t->cap - 1)) {
		if (t->c[j].key == key) {
			t->c[j].n++;
			return TARN_OK;
		}
	}
	t->c[j].key = key;
	t->c[j].n = 1;
	t->n++;
	return TARN_OK;
}

static void counts_free(struct counts *t)
{
	free(t->c);
	memset(t, 0, sizeof(*t));
}

/* The open batch's deltas of date, or NULL. */
static struct day *day_find(const tarn__gold *g, const char *date)
{
	size_t i;

	for (i = 0; i < g->n_days; i++)
		if (strcmp(g->days[i].date, date) == 0)
			return &g->days[i];
	return NULL;
}

void tarn__gold_prefetch(const tarn__gold *g, const char *date, const tarn_event *ev)
{
	const struct day *d = ev->has_user_id ? day_find(g, date) : NULL;

	if (d)
		table_prefetch(&d->users, ev->user_id);
}

/* Free a day's batch deltas (everything but its users). */
static void free_deltas(struct day *d)
{
	table_free(&d->names);
	table_free(&d->sources);
	table_free(&d->pages);
	table_free(&d->types);
	counts_free(&d->minute_types);
	counts_free(&d->minute_logins);
	counts_free(&d->minute_buys);
}

static void day_free(struct day *d)
{
	free_deltas(d);
	table_free(&d->users);
}

static void drop_day(tarn__gold *g, size_t i)
{
	day_free(&g->days[i]);
	g->days[i] = g->days[g->n_days - 1];
	g->n_days--;
}

void tarn__gold_discard(tarn__gold *g)
{
	if (g)
		tarn__aggregate_discard(g->aggs);
	while (g && g->n_days)
		drop_day(g, g->n_days - 1);
}

static int run(tarn__gold *g, int which, int64_t *col0, int *had_row);
static sqlite3_stmt *bind2(tarn__gold *g, int which, const char *date, const char *text);

/* The open batch's deltas of date, created when the batch has none. */
static int day_get(tarn__gold *g, const char *date, struct day **out)
{
	int rc, had;

	*out = day_find(g, date);
	if (*out)
		return TARN_OK;
	if (g->n_days == g->days_cap) {
		size_t cap = g->days_cap ? g->days_cap * 2 : 4;
		struct day *nd = realloc(g->days, cap * sizeof(*nd));
		if (!nd)
			return tarn__error_set(TARN_ENOMEM, "gold batch");
		g->days = nd;
		g->days_cap = cap;
	}
	bind2(g, ST_DAY_USERS, date, NULL);
	rc = run(g, ST_DAY_USERS, NULL, &had);
	if (rc)
		return rc;
	*out = &g->days[g->n_days++];
	memset(*out, 0, sizeof(**out));
	snprintf((*out)->date, sizeof((*out)->date), "%s", date);
	(*out)->complete = !had;
	return TARN_OK;
}

int tarn__gold_attach(tarn__gold **out, sqlite3 *db, int create)
{
	tarn__gold *g;
	int i, rc = TARN_OK;

	*out = NULL;
	if (create) {
		rc = tarn__sql_exec(db, tarn__gold_schema, "gold.db: create tables");
		if (rc)
			return rc;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return tarn__error_set(TARN_ENOMEM, "gold");
	g->db = db;
	for (i = 0; i < ST_COUNT && rc == TARN_OK; i++)
		rc = tarn__sql_prepare(db, gold_sql[i], &g->st[i], "gold.db");
	if (rc) {
		tarn__gold_detach(g);
		return rc;
	}
	*out = g;
	return TARN_OK;
}

void tarn__gold_detach(tarn__gold *g)
{
	int i;

	if (!g)
		return;
	tarn__gold_discard(g);
	tarn__aggregate_close(g->aggs);
	free(g->days);
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(g->st[i]);
	free(g);
}

/* Step a statement to completion; returns its first column through *col0
 * when it yields a row and col0 is not NULL. */
static int run(tarn__gold *g, int which, int64_t *col0, int *had_row)
{
	sqlite3_stmt *st = g->st[which];
	int rc = sqlite3_step(st);

	if (had_row)
		*had_row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW) {
		if (col0)
			*col0 = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(g->db, "gold.db: update");
	return TARN_OK;
}

static sqlite3_stmt *bind2(tarn__gold *g, int which, const char *date, const char *text)
{
	sqlite3_stmt *st = g->st[which];

	sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	return st;
}

/* Users and purchases of the day. The first time a batch meets a user,
 * day_users says whether they were counted already and how often they
 * bought; the batch keeps it from then on. */
static int count_user(tarn__gold *g, struct day *d, const tarn_event *ev, int is_purchase)
{
	struct entry *u;
	int created, rc;

	rc = table_get(&d->users, ev->user_id, &u, &created);
	if (rc)
		return rc;
	if (created) {
		int found = 0;
		if (!d->complete) {
			bind2(g, ST_USER_GET, d->date, ev->user_id);
			rc = run(g, ST_USER_GET, &u->a, &found);
			if (rc)
				return rc;
		}
		u->flags = found ? USER_STORED : 0;
		if (!found) {
			u->a = 0;
			d->new_users++;
		}
	}
	if (!is_purchase)
		return TARN_OK;
	if (u->a == 0)
		d->new_purchasers++;
	u->a++;
	u->b++;
	d->purchases++;
	return TARN_OK;
}

/* Count one event (of bytes) under key; *out (when not NULL) gets its
 * entry, valid until the table next grows. */
static int count_in(struct table *t, const char *key, int64_t bytes, struct entry **out)
{
	struct entry *e;
	int created, rc = table_get(t, key, &e, &created);

	if (rc)
		return rc;
	e->a++;
	e->b += bytes;
	if (out)
		*out = e;
	return TARN_OK;
}

/* The event type's entry in the day's types, its TYPE_* flags set once. */
static int type_of(struct day *d, const char *type, struct entry **out)
{
	int created, rc = table_get(&d->types, type, out, &created);

	if (!rc && created)
		(*out)->flags = (strcmp(type, "purchase") == 0 ? TYPE_PURCHASE : 0) |
				(strcmp(type, "login") == 0 ? TYPE_LOGIN : 0);
	return rc;
}

/* The minute of the day (UTC, 0..1439) of an event time. */
static int minute_of(int64_t time_us)
{
	int64_t us = time_us % TARN_US_PER_DAY;

	if (us < 0)
		us += TARN_US_PER_DAY;
	return (int)(us / 60000000);
}

tarn__aggset *tarn__gold_aggset(tarn__gold *g)
{
	return g ? g->aggs : NULL;
}

int tarn__gold_add(tarn__gold *g, const char *date, const tarn_event *ev)
{
	struct entry *type = NULL, *src = NULL;
	struct day *d = NULL;
	int minute = minute_of(ev->time_us), is_purchase = 0, rc;

	rc = tarn__aggregate_add(g->aggs, date, ev);
	if (!rc)
		rc = day_get(g, date, &d);
	if (rc)
		return rc;
	d->dirty = 1;
	if (ev->has_event_type) {
		rc = type_of(d, ev->event_type, &type);
		if (!rc)
			rc = counts_add(&d->minute_types, minute, type->ix);
		if (rc)
			return rc;
		is_purchase = (type->flags & TYPE_PURCHASE) != 0;
		if (is_purchase)
			rc = counts_add(&d->minute_buys, minute, 0);
	}
	if (!rc && ev->has_user_id)
		rc = count_user(g, d, ev, is_purchase);
	if (!rc && ev->has_source) {
		rc = count_in(&d->sources, ev->source, 0, &src);
		if (!rc && type && (type->flags & TYPE_LOGIN))
			rc = counts_add(&d->minute_logins, minute, src->ix);
	}
	if (!rc && is_purchase && ev->has_page)
		rc = count_in(&d->pages, ev->page, 0, NULL);
	if (rc)
		return rc;
	if (!ev->has_name) {
		d->null_names++;
		d->null_name_bytes += (int64_t)ev->payload_len;
		return TARN_OK;
	}
	return count_in(&d->names, ev->name, (int64_t)ev->payload_len, NULL);
}

static int write_name(tarn__gold *g, const char *date, const char *name, int64_t n, int64_t bytes)
{
	sqlite3_stmt *st = bind2(g, ST_NAME_UPD, date, name);
	int rc;

	sqlite3_bind_int64(st, 3, n);
	sqlite3_bind_int64(st, 4, bytes);
	rc = run(g, ST_NAME_UPD, NULL, NULL);
	if (rc || sqlite3_changes(g->db))
		return rc;
	st = bind2(g, ST_NAME_INS, date, name);
	sqlite3_bind_int64(st, 3, n);
	sqlite3_bind_int64(st, 4, bytes);
	return run(g, ST_NAME_INS, NULL, NULL);
}

static int write_counts(tarn__gold *g, const char *date, const struct table *t, int which)
{
	size_t i;
	int rc = TARN_OK;

	for (i = 0; rc == TARN_OK && i < t->cap; i++) {
		if (!t->e[i].key)
			continue;
		sqlite3_bind_int64(bind2(g, which, date, t->e[i].key), 3, t->e[i].a);
		rc = run(g, which, NULL, NULL);
	}
	return rc;
}

static int write_users(tarn__gold *g, const struct day *d)
{
	size_t i;
	int rc = TARN_OK;

	for (i = 0; rc == TARN_OK && i < d->users.cap; i++) {
		const struct entry *u = &d->users.e[i];

		if (!u->key)
			continue;
		if (!(u->flags & USER_STORED)) {
			sqlite3_bind_int64(bind2(g, ST_USER_INS, d->date, u->key), 3, u->a > 0);
			rc = run(g, ST_USER_INS, NULL, NULL);
		} else if (u->b && u->a == u->b) {
			/* a stored user's first purchase of the day */
			sqlite3_bind_int64(bind2(g, ST_USER_BUY, d->date, u->key), 3, 1);
			rc = run(g, ST_USER_BUY, NULL, NULL);
		}
	}
	return rc;
}

/* Per-minute deltas: window_start is the date, "T", the minute, ":00Z";
 * the third column is the key of keys (by ix), when keys is not NULL. */
static int write_minutes(tarn__gold *g, const char *date, const struct counts *t,
			 const struct table *keys, int which)
{
	const char **by_ix = NULL;
	size_t i;
	int rc = TARN_OK;

	if (!t->n)
		return TARN_OK;
	if (keys) {
		by_ix = calloc(keys->n ? keys->n : 1, sizeof(*by_ix));
		if (!by_ix)
			return tarn__error_set(TARN_ENOMEM, "gold batch");
		for (i = 0; i < keys->cap; i++)
			if (keys->e[i].key)
				by_ix[keys->e[i].ix] = keys->e[i].key;
	}
	for (i = 0; rc == TARN_OK && i < t->cap; i++) {
		uint64_t key = t->c[i].key - 1;
		int minute = (int)(key >> 32);
		char window[32];
		sqlite3_stmt *st;

		if (!t->c[i].key)
			continue;
		snprintf(window, sizeof(window), "%sT%02d:%02d:00Z", date, minute / 60,
			 minute % 60);
		st = bind2(g, which, date, window);
		if (by_ix)
			sqlite3_bind_text(st, 3, by_ix[(uint32_t)key], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, t->c[i].n);
		rc = run(g, which, NULL, NULL);
	}
	free(by_ix);
	return rc;
}

/* A written day: its deltas go, its users stay as stored ones. If the
 * transaction they were written in is rolled back, tarn__gold_discard
 * forgets them with the rest. */
static void keep_users(struct day *d)
{
	size_t i;

	free_deltas(d);
	for (i = 0; i < d->users.cap; i++) {
		d->users.e[i].flags = USER_STORED;
		d->users.e[i].b = 0;
	}
	d->null_names = d->null_name_bytes = 0;
	d->new_users = d->new_purchasers = d->purchases = 0;
	d->dirty = 0;
}

/* Keep the users of all days under USERS_CACHED: forget the users of days
 * without deltas, the day just written (date) last. */
static void trim_users(tarn__gold *g, const char *date)
{
	size_t i, total = 0;

	for (i = 0; i < g->n_days; i++)
		total += g->days[i].users.n;
	for (i = g->n_days; total > USERS_CACHED && i-- > 0;) {
		if (g->days[i].dirty || strcmp(g->days[i].date, date) == 0)
			continue;
		total -= g->days[i].users.n;
		drop_day(g, i);
	}
	for (i = 0; total > USERS_CACHED && i < g->n_days; i++) {
		if (!g->days[i].dirty) {
			total -= g->days[i].users.n;
			drop_day(g, i);
			break;
		}
	}
}

/* Write a day's batch deltas to the gold tables (inside the caller's
 * transaction); the day's users stay known (keep_users). */
static int flush_day(tarn__gold *g, const char *date)
{
	struct day *d = day_find(g, date);
	size_t i;
	int rc;

	if (!d)
		return TARN_OK;
	rc = write_users(g, d);
	if (!rc && (d->new_users || d->new_purchasers || d->purchases)) {
		sqlite3_stmt *st = bind2(g, ST_CONV, date, NULL);
		sqlite3_bind_int64(st, 2, d->new_users);
		sqlite3_bind_int64(st, 3, d->new_purchasers);
		sqlite3_bind_int64(st, 4, d->purchases);
		rc = run(g, ST_CONV, NULL, NULL);
	}
	if (!rc)
		rc = write_counts(g, date, &d->sources, ST_SOURCE);
	if (!rc)
		rc = write_counts(g, date, &d->pages, ST_PAGE);
	for (i = 0; rc == TARN_OK && i < d->names.cap; i++)
		if (d->names.e[i].key)
			rc = write_name(g, date, d->names.e[i].key, d->names.e[i].a,
					d->names.e[i].b);
	if (!rc && d->null_names)
		rc = write_name(g, date, NULL, d->null_names, d->null_name_bytes);
	if (!rc)
		rc = write_minutes(g, date, &d->minute_types, &d->types, ST_EPM);
	if (!rc)
		rc = write_minutes(g, date, &d->minute_logins, &d->sources, ST_LPS);
	if (!rc)
		rc = write_minutes(g, date, &d->minute_buys, NULL, ST_PPM);
	if (rc) {
		drop_day(g, (size_t)(d - g->days));
		return rc;
	}
	keep_users(d);
	trim_users(g, date);
	return TARN_OK;
}

/* Drop the open batch's deltas (and cached users) of date, if any. */
static void forget_day(tarn__gold *g, const char *date)
{
	struct day *d = day_find(g, date);

	if (d)
		drop_day(g, (size_t)(d - g->days));
}

/* Run one statement whose only parameter is the event date. */
static int run_for_date(tarn__gold *g, const char *sql, const char *date)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(g->db, sql, &st, "gold.db");

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(g->db, "gold.db: day %s", date);
	return TARN_OK;
}

int tarn__gold_clear_day(tarn__gold *g, const char *date)
{
	static const char *const tables[] = { "daily_active_users",
					      "conversion_rate_daily",
					      "events_per_source_daily",
					      "purchases_per_page_daily",
					      "events_per_name_daily",
					      "events_per_minute",
					      "logins_per_source",
					      "purchases_per_minute",
					      "day_users",
					      "watermarks" };
	size_t i;
	int rc = TARN_OK;

	forget_day(g, date);
	rc = tarn__aggregate_clear_day(g->aggs, date);
	for (i = 0; rc == TARN_OK && i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[96];

		/* table names come from the list above, never from input */
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE event_date=?", tables[i]);
		rc = run_for_date(g, sql, date);
	}
	return rc;
}

/* daily_active_users mirrors conversion_rate_daily's dau_count; deriving it
 * in one statement keeps the two from ever disagreeing. */
static int sync_dau(tarn__gold *g, const char *date)
{
	return run_for_date(g,
			    "INSERT OR REPLACE INTO daily_active_users"
			    " SELECT event_date, dau_count FROM conversion_rate_daily"
			    " WHERE event_date=?",
			    date);
}

int tarn__gold_watermark_get(tarn__gold *g, const char *date, int64_t *seq)
{
	int found, rc;

	*seq = -1;
	bind2(g, ST_WM_GET, date, NULL);
	rc = run(g, ST_WM_GET, seq, &found);
	if (rc)
		return rc;
	return found ? TARN_OK : TARN_ENOTFOUND;
}

int tarn__gold_watermark_set(tarn__gold *g, const char *date, int64_t seq)
{
	int rc = flush_day(g, date);

	if (!rc)
		rc = tarn__aggregate_flush(g->aggs, date);
	if (rc)
		return rc;
	sqlite3_bind_int64(bind2(g, ST_WM_SET, date, NULL), 2, seq);
	rc = run(g, ST_WM_SET, NULL, NULL);
	if (rc)
		return rc;
	return sync_dau(g, date);
}

struct recompute_ctx {
	tarn__gold *g;
	const char *date;
	const tarn_extract_options *fields;
};

static int recompute_one(void *ctx, const tarn_event *stored)
{
	struct recompute_ctx *rc = ctx;
	tarn_event ev = *stored;

	tarn_event_dimensions(&ev, rc->fields);
	return tarn__gold_add(rc->g, rc->date, &ev);
}

int tarn__gold_recompute_day(tarn__gold *g, tarn__shard *s, const tarn_extract_options *fields)
{
	struct recompute_ctx ctx = { g, tarn__shard_date(s), fields };
	int64_t seq;
	int rc;

	rc = tarn__gold_clear_day(g, ctx.date);
	if (!rc)
		rc = tarn__shard_seq(s, &seq);
	if (!rc)
		rc = tarn__shard_scan(s, INT64_MIN, INT64_MAX, 0, recompute_one, &ctx, NULL);
	if (!rc)
		rc = tarn__gold_watermark_set(g, ctx.date, seq);
	/* a shard that fails halfway leaves deltas of part of its day: they
	 * must not reach the gold tables with a later write of that day */
	if (rc)
		forget_day(g, ctx.date);
	return rc;
}

int tarn__gold_aggregates(tarn__gold *g, const char *schema, int create_tables)
{
	tarn__aggset *a = NULL;
	int rc = tarn__aggregate_open(&a, g->db);

	if (!rc)
		rc = tarn__aggregate_load(a, schema, create_tables);
	if (rc) {
		tarn__aggregate_close(a);
		return rc;
	}
	tarn__aggregate_discard(g->aggs);
	tarn__aggregate_close(g->aggs);
	g->aggs = a;
	return TARN_OK;
}

size_t tarn__gold_n_aggregates(const tarn__gold *g)
{
	return tarn__aggregate_count(g->aggs);
}

const char *tarn__gold_aggregate_name(const tarn__gold *g, size_t i)
{
	return tarn__aggregate_name(g->aggs, i);
}
