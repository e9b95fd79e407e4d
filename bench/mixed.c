/* Benchmark input of several shapes with late arrivals and far
 * re-deliveries, and the no-parse SQLite baseline (mixed.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tarn/tarn.h"
#include "mixed.h"

static uint64_t rng_state;

uint64_t bench_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	return bench_splitmix64(&rng_state);
}

static uint64_t below(uint64_t n)
{
	return rnd() % n;
}

/* Lines to write later: a ring of SLOTS lists, indexed by the step at
 * which they are due. */
#define SLOTS 1024
struct later {
	char **v;
	size_t n, cap;
};
static struct later ring[SLOTS];

static void schedule(uint64_t step, const char *line)
{
	struct later *l = &ring[step % SLOTS];

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			exit(1);
	}
	l->v[l->n++] = strdup(line);
}

static void release(FILE *f, uint64_t step, struct mixed_counts *c)
{
	struct later *l = &ring[step % SLOTS];
	size_t i;

	for (i = 0; i < l->n; i++) {
		fputs(l->v[i], f);
		free(l->v[i]);
		c->lines++;
	}
	l->n = 0;
}

static const char *const types[] = { "login", "click",	  "click",  "click",
				     "click", "purchase", "logout", "click" };
static const char *const pages[] = { "/",	    "/home", "/search",	  "/product/17",
				     "/product/42", "/cart", "/checkout", "/account" };
static const char *const words[] = {
	"lorem ", "ipsum ",	      "dolor ",	      "sit ",
	"amet ",  "\\u00e9t\\u00e9 ", "caf\xc3\xa9 ", "\\\"quoted\\\" "
};

static int make_event(char *buf, size_t cap, uint64_t i, int64_t t_us, struct mixed_counts *c)
{
	char id[64], ts[48], extra[2300] = "";
	uint64_t r = below(1000);
	time_t sec = (time_t)(t_us / 1000000);
	struct tm tm;
	int n;

	if (r < 10) {
		snprintf(id, sizeof(id), "%llu", 1000000000ull + (unsigned long long)i);
		c->int_ids++;
	} else if (r < 30) {
		snprintf(id, sizeof(id), "\"ord-%llu-%04x\"", (unsigned long long)i,
			 (unsigned)below(65536));
	} else {
		uint64_t a = rnd(), b = rnd();
		snprintf(id, sizeof(id), "\"%08x-%04x-4%03x-%04x-%012llx\"", (unsigned)(a >> 32),
			 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
			 (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
			 (unsigned long long)(b & 0xffffffffffffull));
	}
	if (below(10) == 0) {
		snprintf(ts, sizeof(ts), "%lld", (long long)(t_us / 1000));
		c->epoch_ms++;
	} else {
		gmtime_r(&sec, &tm);
		snprintf(ts, sizeof(ts), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(t_us / 1000 % 1000));
	}
	if (below(100) < 8) {
		size_t len, want = 200 + below(1800);
		int k, items = (int)below(6);
		len = (size_t)snprintf(extra, sizeof(extra), ",\"props\":{\"items\":[");
		for (k = 0; k < items; k++)
			len += (size_t)snprintf(extra + len, sizeof(extra) - len, "%s%u",
						k ? "," : "", (unsigned)below(100000));
		len += (size_t)snprintf(extra + len, sizeof(extra) - len, "],\"note\":\"");
		while (len < want && len + 32 < sizeof(extra)) {
			const char *w = words[below(8)];
			memcpy(extra + len, w, strlen(w));
			len += strlen(w);
		}
		snprintf(extra + len, sizeof(extra) - len, "\"}");
		c->big++;
	}
	if (below(20) == 0)
		n = snprintf(buf, cap,
			     "{\"timestamp\":%s,\"event_id\":%s,\"event_type\":\"%s\","
			     "\"user_id\":\"user_%05u\",\"page\":\"%s\",\"source\":\"%s\"%s}\n",
			     ts, id, types[below(8)], (unsigned)below(20000), pages[below(8)],
			     below(3) ? "web" : "mobile", extra);
	else
		n = snprintf(
			buf, cap,
			"{\"event_id\": %s, \"user_id\": \"user_%05u\", \"event_type\": \"%s\","
			" \"page\": \"%s\", \"timestamp\": %s, \"source\": \"%s\"%s}\n",
			id, (unsigned)below(20000), types[below(8)], pages[below(8)], ts,
			below(3) ? "web" : "mobile", extra);
	return n;
}

#define SAMPLES 4096

uint64_t mixed_input(const char *path, uint64_t n, int days, int64_t start_us,
		     struct mixed_counts *c)
{
	static char line[4096];
	char *sample[SAMPLES] = { 0 };
	uint64_t sample_at[SAMPLES] = { 0 }, i;
	int64_t span = (int64_t)days * 86400000000LL, step_us = span / (int64_t)(n ? n : 1);
	FILE *f = fopen(path, "w");
	int k;

	if (!f) {
		perror(path);
		exit(1);
	}
	memset(c, 0, sizeof(*c));
	rng_state = 20261124;
	for (i = 0; i < n; i++) {
		int64_t t = start_us + (int64_t)i * step_us + (int64_t)below((uint64_t)step_us + 1);

		release(f, i, c);
		make_event(line, sizeof(line), i, t, c);
		c->events++;
		if (below(100) < 2) {
			schedule(i + 1 + below(500), line);
			c->late++;
		} else {
			fputs(line, f);
			c->lines++;
		}
		if (below(100) < 5) {
			schedule(i + 1 + below(1000), line);
			c->redelivered++;
		}
		/* a reservoir of earlier lines for re-deliveries far away */
		k = (int)below(SAMPLES);
		if (below(64) == 0) {
			free(sample[k]);
			sample[k] = strdup(line);
			sample_at[k] = i;
		}
		if (below(2000) == 0 && sample[k] && i - sample_at[k] >= 100000) {
			fputs(sample[k], f);
			c->lines++;
			c->far++;
		}
		if (below(1000) == 0) {
			fprintf(f, "{\"event_id\": \"broken-%llu\", \"timestamp\": \n",
				(unsigned long long)i);
			c->lines++;
			c->malformed++;
		}
	}
	for (i = n; i < n + SLOTS; i++)
		release(f, i, c);
	for (k = 0; k < SAMPLES; k++)
		free(sample[k]);
	for (k = 0; k < SLOTS; k++)
		free(ring[k].v), ring[k].v = NULL, ring[k].n = ring[k].cap = 0;
	if (fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	return c->lines;
}

/* The value after "key": (spaces and a colon skipped): a string's bytes
 * without quotes, or a number's digits. */
static int scan_field(const char *line, const char *key, const char **v, size_t *len, int *quoted)
{
	const char *p = strstr(line, key), *e;

	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == ':')
		p++;
	*quoted = *p == '"';
	if (*quoted) {
		p++;
		e = strchr(p, '"');
	} else {
		for (e = p; *e >= '0' && *e <= '9'; e++)
			;
	}
	if (!e || e == p)
		return -1;
	*v = p;
	*len = (size_t)(e - p);
	return 0;
}

double noparse_baseline(const char *input, const char *db_path, uint64_t *stored)
{
	struct timespec t0, t1;
	sqlite3 *db;
	sqlite3_stmt *ins;
	char *line = NULL, wal[700];
	size_t cap = 0;
	ssize_t len;
	uint64_t n = 0, rows = 0;
	FILE *f = fopen(input, "r");

	unlink(db_path);
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	unlink(wal);
	if (!f || sqlite3_open(db_path, &db) != SQLITE_OK)
		exit(1);
	sqlite3_exec(db,
		     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		     "CREATE TABLE events(event_time INTEGER NOT NULL, event_id TEXT NOT NULL,"
		     " payload BLOB NOT NULL, UNIQUE(event_time, event_id))",
		     NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO events VALUES(?,?,?)", -1, &ins, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	while ((len = getline(&line, &cap, f)) > 0) {
		const char *id, *ts;
		size_t id_len, ts_len;
		int q1, q2;
		int64_t us;

		if (scan_field(line, "\"event_id\"", &id, &id_len, &q1) ||
		    scan_field(line, "\"timestamp\"", &ts, &ts_len, &q2))
			continue;
		if (q2) {
			if (tarn_time_parse(ts, ts_len, &us) != TARN_OK)
				continue;
		} else {
			us = strtoll(ts, NULL, 10) * 1000;
		}
		sqlite3_bind_int64(ins, 1, us);
		sqlite3_bind_text(ins, 2, id, (int)id_len, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 3, line, (int)len - 1, SQLITE_STATIC);
		sqlite3_step(ins);
		sqlite3_reset(ins);
		n += (uint64_t)sqlite3_changes(db);
		if (++rows % 100000 == 0)
			sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	free(line);
	fclose(f);
	*stored = n;
	return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}
