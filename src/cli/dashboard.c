/* The pages of `tarn serve`: the dashboard (HTML with SVG charts drawn
 * here), each of its tables as JSON, and the lake's counters in the
 * Prometheus text exposition format. Everything is read per request
 * through the public API (tarn_query_*, tarn_lake_stats_get) on read-only
 * connections, so it works beside a running `tarn ingest` (WAL readers).
 * SQL here is fixed text, or for the declared aggregates fixed text around
 * identifiers from their catalog: nothing from a request reaches it. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

/* ---- a growing output buffer ---- */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void bput(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void bputs(struct buf *b, const char *s)
{
	bput(b, s, strlen(s));
}

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		bput(b, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->oom = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		bput(b, big, (size_t)n);
		free(big);
	}
}

/* Text into HTML or SVG (element content and quoted attributes). */
static void bhtml(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': bputs(b, "&amp;"); break;
		case '<': bputs(b, "&lt;"); break;
		case '>': bputs(b, "&gt;"); break;
		case '"': bputs(b, "&quot;"); break;
		case '\'': bputs(b, "&#39;"); break;
		default: bput(b, s, 1);
		}
	}
}

/* ---- result tables ---- */

#define MAX_COLS 16

struct dcell {
	int type; /* TARN_VALUE_* */
	int64_t i;
	double d;
	char *s; /* TEXT, NUL-terminated copy */
};

struct dtab {
	int n_cols;
	char *names[MAX_COLS];
	size_t n_rows, cap;
	struct dcell *cells;
	int oom;
};

static int dtab_row(void *ctx, int n, const char *const *names, const tarn_value *v)
{
	struct dtab *t = ctx;
	int c;

	if (n > MAX_COLS)
		n = MAX_COLS;
	if (!t->n_cols) {
		t->n_cols = n;
		for (c = 0; c < n; c++)
			t->names[c] = strdup(names[c] ? names[c] : "");
	}
	if (t->n_rows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct dcell *p = realloc(t->cells, cap * (size_t)t->n_cols * sizeof(*p));

		if (!p) {
			t->oom = 1;
			return 1;
		}
		t->cells = p;
		t->cap = cap;
	}
	for (c = 0; c < t->n_cols; c++) {
		struct dcell *d = &t->cells[t->n_rows * (size_t)t->n_cols + (size_t)c];

		memset(d, 0, sizeof(*d));
		d->type = c < n ? v[c].type : TARN_VALUE_NULL;
		if (d->type == TARN_VALUE_INT)
			d->i = v[c].i;
		else if (d->type == TARN_VALUE_REAL)
			d->d = v[c].d;
		else if (d->type == TARN_VALUE_TEXT || d->type == TARN_VALUE_BLOB) {
			d->type = TARN_VALUE_TEXT;
			d->s = malloc(v[c].len + 1);
			if (!d->s) {
				t->oom = 1;
				d->type = TARN_VALUE_NULL;
				return 1;
			}
			memcpy(d->s, v[c].p, v[c].len);
			d->s[v[c].len] = '\0';
		}
	}
	t->n_rows++;
	return 0;
}

static void dtab_free(struct dtab *t)
{
	size_t i;
	int c;

	for (i = 0; i < t->n_rows * (size_t)t->n_cols; i++)
		free(t->cells[i].s);
	for (c = 0; c < t->n_cols; c++)
		free(t->names[c]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static const struct dcell *cell(const struct dtab *t, size_t r, int c)
{
	static const struct dcell null_cell = { TARN_VALUE_NULL, 0, 0, NULL };

	if (r >= t->n_rows || c < 0 || c >= t->n_cols)
		return &null_cell;
	return &t->cells[r * (size_t)t->n_cols + (size_t)c];
}

static double num(const struct dtab *t, size_t r, int c)
{
	const struct dcell *d = cell(t, r, c);

	if (d->type == TARN_VALUE_INT)
		return (double)d->i;
	if (d->type == TARN_VALUE_REAL)
		return d->d;
	return 0;
}

static const char *str(const struct dtab *t, size_t r, int c)
{
	const struct dcell *d = cell(t, r, c);

	return d->type == TARN_VALUE_TEXT ? d->s : "";
}

static int dtab_get(tarn_query *q, const char *sql, struct dtab *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	rc = tarn_query_exec(q, sql, dtab_row, t, NULL);
	if (t->oom)
		return TARN_ENOMEM;
	return rc;
}

/* ---- what the dashboard shows ---- */

/* Fixed SQL of each table; /api/NAME serves it as JSON. */
static const struct panel_sql {
	const char *name;
	const char *sql;
} tables[] = {
	{ "daily_active_users", "SELECT event_date, dau_count FROM daily_active_users ORDER BY 1" },
	{ "conversion_rate_daily",
	  "SELECT event_date, dau_count, purchasers, total_purchases, conversion_rate"
	  " FROM conversion_rate_daily ORDER BY 1" },
	{ "events_per_source_daily",
	  "SELECT event_date, source, event_count FROM events_per_source_daily ORDER BY 1, 2" },
	{ "purchases_per_page_daily",
	  "SELECT event_date, page, purchase_count FROM purchases_per_page_daily ORDER BY 1, 2" },
	{ "events_per_name_daily",
	  "SELECT event_date, event_name, event_count, bytes FROM events_per_name_daily"
	  " ORDER BY 1, 2" },
	{ "events_per_day", "SELECT event_date, sum(event_count) AS events, sum(bytes) AS bytes"
			    " FROM events_per_name_daily GROUP BY 1 ORDER BY 1" },
	{ "top_pages", "SELECT page, sum(purchase_count) AS purchases FROM purchases_per_page_daily"
		       " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10" },
	{ "quarantine_by_reason", NULL },
	{ "watermarks", "SELECT event_date, shard_seq FROM watermarks ORDER BY 1" },
	{ "events_per_minute_last_hour", NULL },
	{ "logins_per_source_last_hour", NULL },
	/* the per-minute gold tables whole, as tarn gold --format json gives them */
	{ "events_per_minute", "SELECT * FROM events_per_minute ORDER BY 1, 2, 3" },
	{ "logins_per_source", "SELECT * FROM logins_per_source ORDER BY 1, 2, 3" },
	{ "purchases_per_minute", "SELECT * FROM purchases_per_minute ORDER BY 1, 2" },
};

#define N_TABLES (sizeof(tables) / sizeof(tables[0]))
enum {
	T_DAU,
	T_CONV,
	T_SOURCE,
	T_PAGE,
	T_NAME,
	T_PER_DAY,
	T_TOP_PAGES,
	T_QUAR,
	T_MARKS,
	T_PER_MIN,
	T_LOGINS
};

/* The per-minute panels cover the hour up to the lake's latest minute,
 * from the per-minute gold tables (written in the same commit as the raw
 * events); the bounds are minute strings tarn computed. */
static const char per_min_sql[] =
	"SELECT substr(window_start, 1, 16) || 'Z' AS minute, event_type AS event_name,"
	" event_count AS events FROM events_per_minute"
	" WHERE event_date >= '%s' AND window_start > '%s' AND window_start <= '%s'"
	" ORDER BY 1, 2";
static const char logins_sql[] =
	"SELECT substr(window_start, 1, 16) || 'Z' AS minute, source,"
	" login_count AS logins FROM logins_per_source"
	" WHERE event_date >= '%s' AND window_start > '%s' AND window_start <= '%s'"
	" ORDER BY 1, 2";

struct dash {
	struct dtab t[N_TABLES];
	tarn_lake_stats st;
	int64_t latest_us; /* the latest event's time, or INT64_MIN */
};

static void dash_free(struct dash *d)
{
	size_t i;

	for (i = 0; i < N_TABLES; i++)
		dtab_free(&d->t[i]);
}

static int quarantine_table(tarn_query *q, struct dtab *t)
{
	int rc = dtab_get(q,
			  "SELECT reason, count(*) AS inputs FROM quarantine.quarantine"
			  " GROUP BY 1 ORDER BY 2 DESC, 1",
			  t);

	/* a lake whose writer has not created quarantine.db yet */
	if (rc == TARN_EINVAL && strstr(tarn_error_last(), "no such table")) {
		dtab_free(t);
		return TARN_OK;
	}
	return rc;
}

#define BIT(t)	   (1u << (t))
#define ALL_TABLES ((1u << N_TABLES) - 1)

/* "YYYY-MM-DDTHH:MM:00Z", the window_start of the minute holding us. */
static void minute_text(int64_t us, char out[32])
{
	char t[40];

	if (tarn_time_format(us, t) != TARN_OK) {
		snprintf(out, 32, "0000-00-00T00:00:00Z");
		return;
	}
	snprintf(out, 32, "%.16s:00Z", t);
}

static int minute_tables(tarn_query *q, struct dash *d, unsigned mask)
{
	struct dtab last;
	char sql[600];
	int rc;

	rc = dtab_get(q,
		      "SELECT max(event_time) FROM events WHERE event_date ="
		      " (SELECT max(event_date) FROM events_per_name_daily)",
		      &last);
	d->latest_us = cell(&last, 0, 0)->type == TARN_VALUE_INT ? cell(&last, 0, 0)->i : INT64_MIN;
	dtab_free(&last);
	if (rc || d->latest_us == INT64_MIN)
		return rc;
	{
		char from[32], to[32], day[11];
		int64_t hi = d->latest_us, lo = hi - 3600000000LL;
		minute_text(hi, to);
		minute_text(lo, from);
		if (tarn_time_date(lo, day))
			return TARN_OK;
		if (mask & BIT(T_PER_MIN)) {
			snprintf(sql, sizeof(sql), per_min_sql, day, from, to);
			rc = dtab_get(q, sql, &d->t[T_PER_MIN]);
		}
		if (!rc && (mask & BIT(T_LOGINS))) {
			snprintf(sql, sizeof(sql), logins_sql, day, from, to);
			rc = dtab_get(q, sql, &d->t[T_LOGINS]);
		}
	}
	return rc;
}

/* Read the tables whose bits are in mask and, if want_stats, the lake's
 * statistics. */
static int dash_load(struct dash *d, const char *dir, unsigned mask, int want_stats)
{
	tarn_query *q = NULL;
	size_t i;
	int rc = TARN_OK;

	memset(d, 0, sizeof(*d));
	d->latest_us = INT64_MIN;
	if (want_stats) {
		tarn_lake *lake = NULL;

		rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);
		if (!rc)
			rc = tarn_lake_stats_get(lake, NULL, NULL, &d->st);
		tarn_lake_close(lake);
		if (rc)
			return rc;
	}
	if (!mask)
		return TARN_OK;
	rc = tarn_query_open(&q, dir);
	for (i = 0; !rc && i < N_TABLES; i++) {
		if (!(mask & BIT(i)) || !tables[i].sql)
			continue;
		rc = dtab_get(q, tables[i].sql, &d->t[i]);
	}
	if (!rc && (mask & BIT(T_QUAR)))
		rc = quarantine_table(q, &d->t[T_QUAR]);
	if (!rc && (mask & (BIT(T_PER_MIN) | BIT(T_LOGINS))))
		rc = minute_tables(q, d, mask);
	tarn_query_close(q);
	return rc;
}

/* ---- JSON ---- */

static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);

	/* not UTF-8 (payload bytes are the producer's): show it replaced */
	return j ? j : json_string("\xef\xbf\xbd");
}

static json_t *cell_json(const struct dcell *d)
{
	switch (d->type) {
	case TARN_VALUE_INT: return json_integer(d->i);
	case TARN_VALUE_REAL: return json_real(d->d);
	case TARN_VALUE_TEXT: return json_text(d->s);
	default: return json_null();
	}
}

static json_t *dtab_json(const struct dtab *t)
{
	json_t *arr = json_array();
	size_t r;
	int c;

	for (r = 0; arr && r < t->n_rows; r++) {
		json_t *o = json_object();

		for (c = 0; o && c < t->n_cols; c++)
			json_object_set_new(o, t->names[c], cell_json(cell(t, r, c)));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *health_json(const struct dash *d)
{
	const tarn_shard_stats *s = &d->st.total;

	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I,s:I,s:o,s:o}", "events",
			 (json_int_t)s->events, "duplicates", (json_int_t)s->duplicates, "blocks",
			 (json_int_t)s->blocks, "raw_bytes", (json_int_t)s->raw_bytes, "zstd_bytes",
			 (json_int_t)s->zstd_bytes, "disk_bytes", (json_int_t)d->st.lake_disk_bytes,
			 "disk_bytes_per_event",
			 s->events ? (double)d->st.lake_disk_bytes / (double)s->events : 0.0,
			 "shards", (json_int_t)d->st.n_shards, "quarantined",
			 (json_int_t)d->st.quarantined, "conflicting_duplicates",
			 (json_int_t)d->st.conflicts, "quarantine_by_reason",
			 dtab_json(&d->t[T_QUAR]), "watermarks", dtab_json(&d->t[T_MARKS]));
}

static int json_body(json_t *j, struct buf *out)
{
	char *s;

	if (!j)
		return 500;
	s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return 500;
	bputs(out, s);
	bputs(out, "\n");
	free(s);
	return 200;
}

/* ---- SVG charts ---- */

/* the built-in panels use the first N_COLORS; an aggregate's top groups
 * all ten */
static const char *const palette[] = { "#2f6fdf", "#e0782f", "#2f9f5f", "#c2404a", "#8a5fc8",
				       "#8c6d3a", "#d05fae", "#5f8f9f", "#b8a000", "#303a4f" };
#define N_COLORS 8

enum { W = 480, H = 190, ML = 48, MR = 10, MT = 10, MB = 26 };

/* 1, 2 or 5 times a power of ten, at least v */
static double nice_max(double v)
{
	double p, m;

	if (v <= 0)
		return 1;
	p = pow(10, floor(log10(v)));
	m = v / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void fmt_num(char *s, size_t n, double v, int percent)
{
	if (percent)
		snprintf(s, n, "%.1f%%", v * 100);
	else if (fabs(v) >= 1e6)
		snprintf(s, n, "%.1fM", v / 1e6);
	else if (fabs(v) >= 1e4)
		snprintf(s, n, "%.1fk", v / 1e3);
	else if (v == floor(v))
		snprintf(s, n, "%.0f", v);
	else
		snprintf(s, n, "%.2f", v);
}

/* 1234567 as "1,234,567": the exact figure, readable */
static void fmt_grouped(char *s, size_t n, double v)
{
	char digits[32];
	size_t len, i, o = 0;

	snprintf(digits, sizeof(digits), "%.0f", v);
	len = strlen(digits);
	for (i = 0; i < len && o + 2 < n; i++) {
		if (i && digits[i - 1] != '-' && (len - i) % 3 == 0)
			s[o++] = ',';
		s[o++] = digits[i];
	}
	s[o] = '\0';
}

/* A chart's frame with three grid lines, for values from ymin to ymax. */
static void svg_open_range(struct buf *b, const char *label, double ymin, double ymax, int percent)
{
	char lo[32], mid[32], hi[32];
	int i;

	bprintf(b, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", W, H);
	bhtml(b, label);
	bputs(b, "\" xmlns=\"http://www.w3.org/2000/svg\">");
	fmt_num(lo, sizeof(lo), ymin, percent);
	fmt_num(mid, sizeof(mid), (ymin + ymax) / 2, percent);
	fmt_num(hi, sizeof(hi), ymax, percent);
	for (i = 0; i <= 2; i++) {
		int y = MT + (H - MT - MB) * (2 - i) / 2;

		bprintf(b,
			"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>"
			"<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">%s</text>",
			ML, y, W - MR, y, ML - 4, y + 4,
			i == 0	 ? lo
			: i == 1 ? mid
				 : hi);
	}
}

static void svg_open(struct buf *b, const char *label, double ymax, int percent)
{
	svg_open_range(b, label, 0, ymax, percent);
}

static void svg_xlabels(struct buf *b, const char *const *labels, size_t n, double x0, double dx,
			int centered)
{
	size_t idx[3] = { 0, n / 2, n - 1 };
	int i;

	for (i = 0; i < 3 && n; i++) {
		if (i && idx[i] == idx[i - 1])
			continue;
		bprintf(b, "<text x=\"%.1f\" y=\"%d\" class=\"ax\" text-anchor=\"%s\">",
			x0 + dx * (double)idx[i], H - 8,
			centered || i == 1 ? "middle"
			: i == 0	   ? "start"
					   : "end");
		bhtml(b, labels[idx[i]]);
		bputs(b, "</text>");
	}
}

/* One bar per row: label column lc, value column vc. */
static void svg_bars(struct buf *b, const struct dtab *t, int lc, int vc, const char *label,
		     int percent)
{
	const char **labels;
	double max = 0, bw, x0 = ML + 2;
	size_t r;

	if (!t->n_rows) {
		bputs(b, "<p class=\"empty\">no data yet</p>");
		return;
	}
	labels = calloc(t->n_rows, sizeof(*labels));
	if (!labels)
		return;
	for (r = 0; r < t->n_rows; r++) {
		labels[r] = str(t, r, lc);
		if (num(t, r, vc) > max)
			max = num(t, r, vc);
	}
	max = percent ? (max > 0.5 ? 1 : nice_max(max)) : nice_max(max);
	svg_open(b, label, max, percent);
	bw = (double)(W - MR - x0) / (double)t->n_rows;
	for (r = 0; r < t->n_rows; r++) {
		double v = num(t, r, vc), h = v / max * (H - MT - MB);
		char s[32];

		fmt_num(s, sizeof(s), v, percent);
		bprintf(b,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			"<title>",
			x0 + bw * (double)r + bw * 0.1, (double)(H - MB) - h, bw * 0.8, h,
			palette[0]);
		bhtml(b, labels[r]);
		bprintf(b, ": %s</title></rect>", s);
	}
	svg_xlabels(b, labels, t->n_rows, x0 + bw * 0.5, bw, 1);
	bputs(b, "</svg>");
	free(labels);
}

/* Rows (x, series, value) ordered by x: one line per series over the x
 * values present, with a legend. */
static void svg_lines(struct buf *b, const struct dtab *t, const char *label)
{
	const char *xs[64], *names[N_COLORS];
	double v[N_COLORS][64], max = 0, dx;
	size_t nx = 0, nn = 0, r, i, k;

	if (!t->n_rows) {
		bputs(b, "<p class=\"empty\">no events in the last hour</p>");
		return;
	}
	memset(v, 0, sizeof(v));
	for (r = 0; r < t->n_rows; r++) {
		const char *x = str(t, r, 0), *name = str(t, r, 1);

		if (!nx || strcmp(xs[nx - 1], x) != 0) {
			if (nx == 64)
				break;
			xs[nx++] = x;
		}
		for (k = 0; k < nn && strcmp(names[k], name) != 0; k++)
			;
		if (k == nn) {
			if (nn == N_COLORS)
				continue; /* more series than colors: the rest are in /api */
			names[nn++] = name;
		}
		v[k][nx - 1] = num(t, r, 2);
		if (v[k][nx - 1] > max)
			max = v[k][nx - 1];
	}
	max = nice_max(max);
	svg_open(b, label, max, 0);
	dx = nx > 1 ? (double)(W - MR - ML - 4) / (double)(nx - 1) : 0;
	for (k = 0; k < nn; k++) {
		bprintf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
			palette[k]);
		for (i = 0; i < nx; i++)
			bprintf(b, "%.1f,%.1f ", ML + 2 + dx * (double)i,
				(double)(H - MB) - v[k][i] / max * (H - MT - MB));
		bputs(b, "\"><title>");
		bhtml(b, names[k][0] ? names[k] : "(none)");
		bputs(b, "</title></polyline>");
	}
	svg_xlabels(b, xs, nx, ML + 2, dx, 0);
	bputs(b, "</svg><div class=\"legend\">");
	for (k = 0; k < nn; k++) {
		bprintf(b, "<span><i style=\"background:%s\"></i>", palette[k]);
		bhtml(b, names[k][0] ? names[k] : "(none)");
		bputs(b, "</span>");
	}
	bputs(b, "</div>");
}

/* Horizontal bars: label column 0, value column 1. */
static void svg_hbars(struct buf *b, const struct dtab *t, const char *label)
{
	double max = 0, rowh;
	size_t r;
	int lw = 150;

	if (!t->n_rows) {
		bputs(b, "<p class=\"empty\">no purchases yet</p>");
		return;
	}
	for (r = 0; r < t->n_rows; r++)
		if (num(t, r, 1) > max)
			max = num(t, r, 1);
	rowh = (double)(H - MT) / (double)(t->n_rows > 5 ? t->n_rows : 5);
	bprintf(b, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", W, H);
	bhtml(b, label);
	bputs(b, "\" xmlns=\"http://www.w3.org/2000/svg\">");
	for (r = 0; r < t->n_rows; r++) {
		double w = max > 0 ? num(t, r, 1) / max * (W - lw - 60) : 0,
		       y = MT + rowh * (double)r;
		char s[32];

		fmt_num(s, sizeof(s), num(t, r, 1), 0);
		bprintf(b, "<text x=\"%d\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">", lw - 6,
			y + rowh * 0.65);
		bhtml(b, str(t, r, 0));
		bprintf(b,
			"</text><rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" class=\"ax\">%s</text>",
			lw, y + rowh * 0.15, w, rowh * 0.7, palette[2], lw + w + 4, y + rowh * 0.65,
			s);
	}
	bputs(b, "</svg>");
}

/* ---- HTML ---- */

static void big_number(struct buf *b, const char *key, const struct dtab *t, int vc, int percent)
{
	char s[32], raw[48];
	size_t last = t->n_rows ? t->n_rows - 1 : 0;

	if (!t->n_rows) {
		bprintf(b, "<div class=\"big\"><span class=\"num\" data-key=\"%s\">-</span></div>",
			key);
		return;
	}
	if (percent)
		fmt_num(s, sizeof(s), num(t, last, vc), percent);
	else
		fmt_grouped(s, sizeof(s), num(t, last, vc));
	if (cell(t, last, vc)->type == TARN_VALUE_REAL)
		snprintf(raw, sizeof(raw), "%.17g", num(t, last, vc));
	else
		snprintf(raw, sizeof(raw), "%.0f", num(t, last, vc));
	bprintf(b,
		"<div class=\"big\"><span class=\"num\" data-key=\"%s\" data-value=\"%s\""
		" data-date=\"",
		key, raw);
	bhtml(b, str(t, last, 0));
	bprintf(b, "\">%s</span> <small>on ", s);
	bhtml(b, str(t, last, 0));
	bputs(b, "</small></div>");
}

static void html_table(struct buf *b, const struct dtab *t, const char *key, size_t max_rows)
{
	size_t r, from = t->n_rows > max_rows ? t->n_rows - max_rows : 0;
	int c;

	bprintf(b, "<table data-key=\"%s\"><tr>", key);
	for (c = 0; c < t->n_cols; c++) {
		bputs(b, "<th>");
		bhtml(b, t->names[c]);
		bputs(b, "</th>");
	}
	bputs(b, "</tr>");
	for (r = from; r < t->n_rows; r++) {
		bputs(b, "<tr>");
		for (c = 0; c < t->n_cols; c++) {
			const struct dcell *d = cell(t, r, c);
			char s[48];

			bputs(b, "<td>");
			if (d->type == TARN_VALUE_TEXT) {
				bhtml(b, d->s);
			} else if (d->type != TARN_VALUE_NULL) {
				snprintf(s, sizeof(s), d->type == TARN_VALUE_INT ? "%.0f" : "%.4f",
					 num(t, r, c));
				bputs(b, s);
			}
			bputs(b, "</td>");
		}
		bputs(b, "</tr>");
	}
	if (!t->n_rows)
		bprintf(b, "<tr><td colspan=\"%d\" class=\"empty\">none</td></tr>",
			t->n_cols ? t->n_cols : 1);
	bputs(b, "</table>");
}

static void health_panel(struct buf *b, const struct dash *d)
{
	const tarn_shard_stats *s = &d->st.total;
	static const char *const names[] = { "events",	    "duplicates",
					     "quarantined", "conflicting_duplicates",
					     "shards",	    "disk_bytes" };
	uint64_t vals[6];
	size_t i;

	vals[0] = s->events;
	vals[1] = s->duplicates;
	vals[2] = d->st.quarantined;
	vals[3] = d->st.conflicts;
	vals[4] = d->st.n_shards;
	vals[5] = d->st.lake_disk_bytes;
	bputs(b, "<section class=\"panel wide\"><h2>Lake health</h2><div class=\"kv\">");
	for (i = 0; i < 6; i++)
		bprintf(b,
			"<div><b class=\"num\" data-key=\"lake_%s\" "
			"data-value=\"%llu\">%llu</b>%s</div>",
			names[i], (unsigned long long)vals[i], (unsigned long long)vals[i],
			names[i]);
	bprintf(b,
		"<div><b class=\"num\" data-key=\"lake_bytes_per_event\">%.1f</b>disk bytes / "
		"event</div>",
		s->events ? (double)d->st.lake_disk_bytes / (double)s->events : 0.0);
	bputs(b, "</div><div class=\"cols\"><div><h3>Quarantine by reason</h3>");
	html_table(b, &d->t[T_QUAR], "quarantine_by_reason", 20);
	bputs(b, "</div><div><h3>Gold watermarks (last 10 days)</h3>");
	html_table(b, &d->t[T_MARKS], "watermarks", 10);
	bputs(b, "</div></div></section>");
}

/* The built-in panels in an open grid <div>, which the caller closes. */
static void panels(struct buf *b, const struct dash *d)
{
	char now[40];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S UTC", &tm);
	/* not the lake's folder: no answer names the server's files */
	bprintf(b, "<p class=\"meta\">read at <span id=\"updated\">%s</span></p>", now);
	bputs(b, "<div class=\"grid\">");
	bputs(b, "<section class=\"panel\"><h2>Daily active users</h2>");
	big_number(b, "dau", &d->t[T_DAU], 1, 0);
	svg_bars(b, &d->t[T_DAU], 0, 1, "daily active users per day", 0);
	bputs(b, "</section><section class=\"panel\"><h2>Conversion rate</h2>");
	big_number(b, "conversion_rate", &d->t[T_CONV], 4, 1);
	svg_bars(b, &d->t[T_CONV], 0, 4, "conversion rate per day", 1);
	bputs(b, "</section><section class=\"panel\"><h2>Total purchases</h2>");
	big_number(b, "total_purchases", &d->t[T_CONV], 3, 0);
	svg_bars(b, &d->t[T_CONV], 0, 3, "purchases per day", 0);
	bputs(b, "</section><section class=\"panel\"><h2>Total events</h2>");
	big_number(b, "events", &d->t[T_PER_DAY], 1, 0);
	svg_bars(b, &d->t[T_PER_DAY], 0, 1, "events per day", 0);
	bputs(b, "</section><section class=\"panel\"><h2>Events per minute by name"
		 " <small>(last hour of event time)</small></h2>");
	svg_lines(b, &d->t[T_PER_MIN], "events per minute by name");
	bputs(b, "</section><section class=\"panel\"><h2>Logins per minute by source"
		 " <small>(last hour)</small></h2>");
	svg_lines(b, &d->t[T_LOGINS], "logins per minute by source");
	bputs(b, "</section><section class=\"panel\"><h2>Top pages by purchases</h2>");
	svg_hbars(b, &d->t[T_TOP_PAGES], "top pages by purchases");
	bputs(b, "</section>");
	health_panel(b, d);
	/* the grid stays open: the declared aggregates' panels follow */
}

static const char page_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	"<title>tarn dashboard</title><style>"
	"body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}"
	"header{background:#1d2330;color:#fff;padding:10px 18px}header h1{margin:0;font-size:18px}"
	".meta{margin:8px 18px;color:#555}"
	".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px;"
	"padding:0 18px 18px}"
	".panel{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002}"
	".panel.wide{grid-column:1/-1}h2{font-size:15px;margin:0 0 "
	"6px}h3{font-size:13px;margin:8px 0 4px}"
	".big{font-size:28px;font-weight:600}.big small{font-size:12px;color:#666;font-weight:400}"
	".chart{width:100%;height:auto}.grid line.grid,svg line.grid{stroke:#e3e5ea}"
	".ax{font-size:11px;fill:#666}.legend span{margin-right:12px;font-size:12px}"
	".legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}"
	".kv{display:flex;flex-wrap:wrap;gap:18px}.kv div{display:flex;flex-direction:column;"
	"font-size:12px;color:#555}.kv b{font-size:20px;color:#1d2330}"
	".cols{display:flex;gap:30px;flex-wrap:wrap}table{border-collapse:collapse;font-size:12px}"
	"td,th{padding:2px 10px 2px 0;text-align:left}.empty{color:#888}"
	".err{margin:8px 18px;padding:8px;background:#fde8e8;color:#8a1f1f;border-radius:4px}"
	"</style></head>\n";

static const char page_script[] =
	"<script>\n"
	"(function(){var n=0;setInterval(function(){fetch('/panels',{cache:'no-store'})"
	".then(function(r){return r.ok?r.text():Promise.reject(r.status)})"
	".then(function(t){document.getElementById('panels').innerHTML=t;n++;"
	"document.body.setAttribute('data-refreshes',n)}).catch(function(){})},%d);})();\n"
	"</script>";

static void error_block(struct buf *b, const char *reason)
{
	bprintf(b, "<p class=\"err\">cannot read the lake: %s</p>", reason);
}

/* ---- Prometheus text exposition format ---- */

static void prom_label(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			bprintf(b, "\\%c", *s);
		else if (*s == '\n')
			bputs(b, "\\n");
		else
			bput(b, s, 1);
	}
}

static void prom(struct buf *b, const char *name, const char *type, const char *help, double v)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void metrics(struct buf *b, const struct dash *d, const struct serve_counters *sc)
{
	const tarn_shard_stats *s = &d->st.total;
	const struct dtab *t;
	size_t r;

	prom(b, "tarn_lake_events", "gauge", "Events stored in the lake's shards.",
	     (double)s->events);
	prom(b, "tarn_lake_duplicates", "gauge", "Re-deliveries absorbed (identical payload).",
	     (double)s->duplicates);
	prom(b, "tarn_lake_quarantined", "gauge", "Inputs in the quarantine, every reason.",
	     (double)d->st.quarantined);
	prom(b, "tarn_lake_blocks", "gauge", "Compressed blocks of events.", (double)s->blocks);
	prom(b, "tarn_lake_raw_bytes", "gauge", "Sum of stored payload sizes, bytes.",
	     (double)s->raw_bytes);
	prom(b, "tarn_lake_zstd_bytes", "gauge", "Bytes of the blocks' zstd frames.",
	     (double)s->zstd_bytes);
	prom(b, "tarn_lake_disk_bytes", "gauge", "Bytes of every file in the lake folder.",
	     (double)d->st.lake_disk_bytes);
	prom(b, "tarn_lake_shards", "gauge", "Date shards.", (double)d->st.n_shards);
	prom(b, "tarn_lake_disk_bytes_per_event", "gauge", "Lake disk bytes per stored event.",
	     s->events ? (double)d->st.lake_disk_bytes / (double)s->events : 0);
	bputs(b, "# HELP tarn_quarantine_inputs Quarantined inputs by reason.\n"
		 "# TYPE tarn_quarantine_inputs gauge\n");
	t = &d->t[T_QUAR];
	for (r = 0; r < t->n_rows; r++) {
		bputs(b, "tarn_quarantine_inputs{reason=\"");
		prom_label(b, str(t, r, 0));
		bprintf(b, "\"} %.0f\n", num(t, r, 1));
	}
	bputs(b, "# HELP tarn_gold_watermark The shard commit_seq that a day's gold rows reflect.\n"
		 "# TYPE tarn_gold_watermark gauge\n");
	t = &d->t[T_MARKS];
	for (r = t->n_rows > 31 ? t->n_rows - 31 : 0; r < t->n_rows; r++) {
		bputs(b, "tarn_gold_watermark{event_date=\"");
		prom_label(b, str(t, r, 0));
		bprintf(b, "\"} %.0f\n", num(t, r, 1));
	}
	bputs(b, "# HELP tarn_gold_latest Gold figures of the latest day.\n"
		 "# TYPE tarn_gold_latest gauge\n");
	if (d->t[T_CONV].n_rows) {
		const struct dtab *c = &d->t[T_CONV];
		size_t l = c->n_rows - 1;
		static const char *const what[] = { NULL, "dau", "purchasers", "total_purchases",
						    "conversion_rate" };
		int i;

		for (i = 1; i <= 4; i++) {
			bprintf(b, "tarn_gold_latest{figure=\"%s\",event_date=\"", what[i]);
			prom_label(b, str(c, l, 0));
			bprintf(b, "\"} %.17g\n", num(c, l, i));
		}
	}
	bputs(b, "# HELP tarn_serve_requests_total HTTP requests answered, by status class.\n"
		 "# TYPE tarn_serve_requests_total counter\n");
	bprintf(b,
		"tarn_serve_requests_total{code=\"2xx\"} %llu\n"
		"tarn_serve_requests_total{code=\"4xx\"} %llu\n"
		"tarn_serve_requests_total{code=\"5xx\"} %llu\n",
		(unsigned long long)atomic_load(&sc->ok),
		(unsigned long long)atomic_load(&sc->client_err),
		(unsigned long long)atomic_load(&sc->server_err));
}

/* ---- declared aggregates (tarn/aggregate.h) ----
 *
 * Which aggregates exist comes from the catalog through
 * tarn_aggregate_list, never from a list here. The SQL of their panels is
 * built from catalog identifiers that pass ident_ok (and are quoted), never
 * from the request: a requested name only selects one of the declarations.
 * Each measure is drawn as one line per group of the first --by column:
 * the AGG_TOP groups with the largest total of the measure over the whole
 * table (ties by the group's value, as SQLite orders it), over the latest
 * AGG_WINDOWS windows of the table; the other groups are left out (the
 * panel says how many there are). */

#define AGG_TOP	    10
#define AGG_WINDOWS 120
#define AGG_COLS    32

/* How a measure's values of several rows of one (window, group) combine
 * when the aggregate has more --by columns than the first. */
enum combine { C_SUM, C_MIN, C_MAX, C_NONE };

struct agg_decl {
	char *name;
	tarn_window every;
	size_t n_by, n_m;
	char *by0;	       /* the first --by column, or NULL */
	char *m_col[AGG_COLS]; /* measure columns */
	char *m_agg[AGG_COLS]; /* their AGG text */
	uint64_t rows;
	int64_t updated_us;
	json_t *decl;		      /* as `tarn aggregate list --format json` */
	struct dtab series[AGG_COLS]; /* per measure, when loaded */
};

struct agg_list {
	struct agg_decl *a;
	size_t n, cap;
	int oom;
};

static void agg_list_free(struct agg_list *l)
{
	size_t i, k;

	for (i = 0; i < l->n; i++) {
		struct agg_decl *g = &l->a[i];

		free(g->name);
		free(g->by0);
		for (k = 0; k < g->n_m; k++) {
			free(g->m_col[k]);
			free(g->m_agg[k]);
			dtab_free(&g->series[k]);
		}
		json_decref(g->decl);
	}
	free(l->a);
	memset(l, 0, sizeof(*l));
}

/* A plain SQL identifier, as tarn_aggregate_check requires of names and
 * columns: [A-Za-z_][A-Za-z0-9_]*, at most 64 bytes. */
static int ident_ok(const char *s)
{
	size_t i;

	if (!s || !s[0] || strlen(s) > 64 || isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* The AGG forms of tarn/aggregate.h, by their leading words. */
static enum combine agg_combine(const char *agg)
{
	char w[16];
	size_t i = 0;

	while (*agg == ' ' || *agg == '\t')
		agg++;
	for (; i + 1 < sizeof(w) && isalpha((unsigned char)agg[i]); i++)
		w[i] = (char)tolower((unsigned char)agg[i]);
	w[i] = '\0';
	agg += i;
	while (*agg == ' ' || *agg == '\t' || *agg == '(')
		agg++;
	if (strcmp(w, "count") == 0)
		return strncasecmp(agg, "distinct", 8) == 0 ? C_NONE : C_SUM;
	if (strcmp(w, "sum") == 0)
		return C_SUM;
	if (strcmp(w, "min") == 0)
		return C_MIN;
	if (strcmp(w, "max") == 0)
		return C_MAX;
	return C_NONE; /* avg */
}

static const char *const combine_name[] = { "sum", "min", "max", NULL };

static const char *x_column(tarn_window w)
{
	return w == TARN_WINDOW_DAY ? "event_date" : "window_start";
}

static int agg_list_one(void *ctx, const tarn_aggregate_info *info)
{
	struct agg_list *l = ctx;
	const tarn_aggregate_def *d = &info->def;
	struct agg_decl *g;
	size_t k;

	/* a request not built yet (or failed) has no table to draw */
	if (strcmp(info->state, "ready") != 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct agg_decl *p = realloc(l->a, cap * sizeof(*p));

		if (!p) {
			l->oom = 1;
			return 1;
		}
		l->a = p;
		l->cap = cap;
	}
	g = &l->a[l->n++];
	memset(g, 0, sizeof(*g));
	g->name = strdup(d->name);
	g->every = d->every;
	g->n_by = d->n_by;
	g->by0 = d->n_by ? strdup(d->by[0].col) : NULL;
	g->n_m = d->n_measures < AGG_COLS ? d->n_measures : AGG_COLS;
	for (k = 0; k < g->n_m; k++) {
		g->m_col[k] = strdup(d->measure[k].col);
		g->m_agg[k] = strdup(d->measure[k].expr);
		if (!g->m_col[k] || !g->m_agg[k])
			l->oom = 1;
	}
	g->rows = info->rows;
	g->updated_us = info->updated_us;
	g->decl = cli_aggregate_json(info);
	if (!g->name || (d->n_by && !g->by0) || !g->decl)
		l->oom = 1;
	return l->oom;
}

/* Declarations whose identifiers are not plain (a catalog written by
 * something else) are not queried: their panel says so. */
static int agg_decl_ok(const struct agg_decl *g)
{
	size_t k;

	if (!ident_ok(g->name) || (g->by0 && !ident_ok(g->by0)))
		return 0;
	for (k = 0; k < g->n_m; k++)
		if (!ident_ok(g->m_col[k]))
			return 0;
	return 1;
}

/* Measure k of g as rows (grp, total, x, v, n_groups), ordered by the
 * group's total (descending), the group, then x. */
static int agg_series_get(tarn_query *q, const struct agg_decl *g, size_t k, struct dtab *t)
{
	enum combine c = agg_combine(g->m_agg[k]);
	char grp[80], agrp[84], sql[2048];

	memset(t, 0, sizeof(*t));
	if (g->n_by > 1 && c == C_NONE)
		return TARN_OK; /* not drawn: the panel says why */
	/* one row per (window, group) when there is at most one --by column,
	 * so any of the combining functions gives that row's value */
	if (g->by0) {
		snprintf(grp, sizeof(grp), "\"%s\"", g->by0);
		snprintf(agrp, sizeof(agrp), "a.\"%s\"", g->by0);
	} else {
		snprintf(grp, sizeof(grp), "NULL");
		snprintf(agrp, sizeof(agrp), "NULL");
	}
	snprintf(sql, sizeof(sql),
		 /* the groups' totals once (materialized: used twice) */
		 "WITH tot AS MATERIALIZED (SELECT %s AS g, total(\"%s\") AS t FROM \"%s\""
		 " GROUP BY 1),"
		 " top AS (SELECT g, t FROM tot ORDER BY 2 DESC, 1 LIMIT %d),"
		 " lo AS (SELECT coalesce((SELECT \"%s\" FROM \"%s\" GROUP BY 1"
		 " ORDER BY 1 DESC LIMIT 1 OFFSET %d), '') AS x)"
		 " SELECT top.g AS grp, top.t AS total, a.\"%s\" AS x, %s(a.\"%s\") AS v,"
		 " (SELECT count(*) FROM tot) AS n_groups"
		 /* CROSS JOIN keeps this order: one scan of the table, each row
		  * matched against the ten groups */
		 " FROM lo CROSS JOIN \"%s\" AS a CROSS JOIN top"
		 " WHERE a.\"%s\" >= lo.x AND %s IS top.g"
		 " GROUP BY top.g, a.\"%s\" ORDER BY top.t DESC, top.g, a.\"%s\"",
		 grp, g->m_col[k], g->name, AGG_TOP, x_column(g->every), g->name, AGG_WINDOWS - 1,
		 x_column(g->every), c == C_NONE ? "max" : combine_name[c], g->m_col[k], g->name,
		 x_column(g->every), agrp, x_column(g->every), x_column(g->every));
	return dtab_get(q, sql, t);
}

/* Read the declarations (and, with series, the series of each, or of the
 * one named only). *found: whether `only` is declared. */
static int aggs_load(struct agg_list *l, const char *dir, int series, const char *only, int *found)
{
	tarn_lake *lake = NULL;
	tarn_query *q = NULL;
	size_t i, k;
	int rc;

	memset(l, 0, sizeof(*l));
	if (found)
		*found = 0;
	rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);
	if (!rc)
		rc = tarn_aggregate_list(lake, agg_list_one, l);
	tarn_lake_close(lake);
	if (l->oom)
		return TARN_ENOMEM;
	if (rc || !series)
		return rc;
	rc = tarn_query_open(&q, dir);
	for (i = 0; !rc && i < l->n; i++) {
		if (only && strcmp(only, l->a[i].name) != 0)
			continue;
		if (found)
			*found = 1;
		for (k = 0; !rc && agg_decl_ok(&l->a[i]) && k < l->a[i].n_m; k++)
			rc = agg_series_get(q, &l->a[i], k, &l->a[i].series[k]);
		/* dropped between the list and the query: drawn empty this time */
		if (rc == TARN_EINVAL && strstr(tarn_error_last(), "no such table"))
			rc = TARN_OK;
	}
	tarn_query_close(q);
	return rc;
}

/* A group's label: its value as text; "(null)" for a NULL group value,
 * "all" when there is no --by column. */
static void group_label(const struct agg_decl *g, const struct dcell *d, char *out, size_t n)
{
	if (d->type == TARN_VALUE_TEXT)
		snprintf(out, n, "%s", d->s);
	else if (d->type == TARN_VALUE_INT)
		snprintf(out, n, "%lld", (long long)d->i);
	else if (d->type == TARN_VALUE_REAL)
		snprintf(out, n, "%.17g", d->d);
	else
		snprintf(out, n, "%s", g->by0 ? "(null)" : "all");
}

static int same_cell(const struct dcell *a, const struct dcell *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case TARN_VALUE_INT: return a->i == b->i;
	case TARN_VALUE_REAL: return a->d == b->d;
	case TARN_VALUE_TEXT: return strcmp(a->s, b->s) == 0;
	default: return 1;
	}
}

/* The rows [from, to) of t that belong to the group of row from. */
static size_t group_end(const struct dtab *t, size_t from)
{
	size_t to = from + 1;

	while (to < t->n_rows && same_cell(cell(t, to, 0), cell(t, from, 0)))
		to++;
	return to;
}

static int is_number(const struct dcell *d)
{
	return d->type == TARN_VALUE_INT || d->type == TARN_VALUE_REAL;
}

static void value_text(const struct dcell *d, char *out, size_t n)
{
	if (d->type == TARN_VALUE_INT)
		snprintf(out, n, "%lld", (long long)d->i);
	else
		snprintf(out, n, "%.17g", d->d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted distinct x values of t (column 2); borrowed from t. */
static size_t x_values(const struct dtab *t, const char ***out)
{
	const char **xs = calloc(t->n_rows ? t->n_rows : 1, sizeof(*xs));
	size_t r, n = 0, u = 0;

	*out = xs;
	if (!xs)
		return 0;
	for (r = 0; r < t->n_rows; r++)
		if (cell(t, r, 2)->type == TARN_VALUE_TEXT)
			xs[n++] = str(t, r, 2);
	qsort(xs, n, sizeof(*xs), cmp_str);
	for (r = 0; r < n; r++)
		if (!u || strcmp(xs[u - 1], xs[r]) != 0)
			xs[u++] = xs[r];
	return u;
}

static size_t x_index(const char *const *xs, size_t n, const char *x)
{
	const char *const *p = bsearch(&x, xs, n, sizeof(*xs), cmp_str);

	return p ? (size_t)(p - xs) : 0;
}

/* One measure's chart: a line per group over the windows, a point where
 * the table has a row (a window without one is a gap), the exact values
 * in each line's data-points ("x=v;..."), and a legend. */
static void svg_series(struct buf *b, const struct agg_decl *g, size_t k)
{
	const struct dtab *t = &g->series[k];
	const char **xs;
	double lo = 0, hi = 0, dx;
	size_t nx, r, from, s;
	char label[200];

	if (!t->n_rows) {
		bputs(b, "<p class=\"empty\">no rows yet</p>");
		return;
	}
	nx = x_values(t, &xs);
	if (!xs)
		return;
	for (r = 0; r < t->n_rows; r++) {
		double v = num(t, r, 3);

		if (is_number(cell(t, r, 3))) {
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	}
	lo = lo < 0 ? -nice_max(-lo) : 0;
	hi = hi > 0 || lo == 0 ? nice_max(hi) : 0;
	snprintf(label, sizeof(label), "%s %s by %s", g->name, g->m_col[k],
		 g->by0 ? g->by0 : "all");
	svg_open_range(b, label, lo, hi, 0);
	dx = nx > 1 ? (double)(W - MR - ML - 4) / (double)(nx - 1) : 0;
	for (from = 0, s = 0; from < t->n_rows; from = group_end(t, from), s++) {
		size_t to = group_end(t, from), prev = (size_t)-1;
		char name[128];

		group_label(g, cell(t, from, 0), name, sizeof(name));
		bprintf(b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" data-group=\"",
			palette[s % (sizeof(palette) / sizeof(palette[0]))]);
		bhtml(b, name);
		bputs(b, "\" data-points=\"");
		for (r = from; r < to; r++) {
			char v[40];

			if (!is_number(cell(t, r, 3)))
				continue;
			value_text(cell(t, r, 3), v, sizeof(v));
			bhtml(b, str(t, r, 2));
			bprintf(b, "=%s;", v);
		}
		bputs(b, "\" d=\"");
		for (r = from; r < to; r++) {
			size_t i = x_index(xs, nx, str(t, r, 2));
			double y =
				(double)(H - MB) - (num(t, r, 3) - lo) / (hi - lo) * (H - MT - MB);

			if (!is_number(cell(t, r, 3)))
				continue;
			/* a lone point still shows: a zero-length segment with round caps */
			bprintf(b, "%s%.1f,%.1f%s", prev != (size_t)-1 && i == prev + 1 ? "L" : "M",
				ML + 2 + dx * (double)i, y,
				r + 1 < to && x_index(xs, nx, str(t, r + 1, 2)) == i + 1 ? " "
											 : "h0 ");
			prev = i;
		}
		bputs(b, "\" stroke-linecap=\"round\"><title>");
		bhtml(b, name);
		bputs(b, "</title></path>");
	}
	svg_xlabels(b, xs, nx, ML + 2, dx, 0);
	bputs(b, "</svg><div class=\"legend\">");
	for (from = 0, s = 0; from < t->n_rows; from = group_end(t, from), s++) {
		char name[128];

		group_label(g, cell(t, from, 0), name, sizeof(name));
		bprintf(b, "<span data-group=\"");
		bhtml(b, name);
		bprintf(b, "\"><i style=\"background:%s\"></i>",
			palette[s % (sizeof(palette) / sizeof(palette[0]))]);
		bhtml(b, name);
		bputs(b, "</span>");
	}
	bputs(b, "</div>");
	free(xs);
}

static void updated_text(int64_t us, char out[28])
{
	if (!us || tarn_time_format(us, out) != TARN_OK)
		snprintf(out, 28, "-");
}

/* The list of declarations, then a panel per measure of each. */
static void agg_panels(struct buf *b, const struct agg_list *l)
{
	size_t i, k;

	bputs(b, "<section class=\"panel wide\" data-key=\"aggregates\"><h2>Declared aggregates"
		 "</h2>");
	if (!l->n)
		bputs(b, "<p class=\"empty\">none declared (tarn aggregate create)</p>");
	else
		bputs(b, "<table><tr><th>aggregate</th><th>window</th><th>by</th>"
			 "<th>measures</th><th>rows</th><th>last update</th></tr>");
	for (i = 0; i < l->n; i++) {
		const struct agg_decl *g = &l->a[i];
		char when[28];

		updated_text(g->updated_us, when);
		bputs(b, "<tr data-aggregate=\"");
		bhtml(b, g->name);
		bputs(b, "\"><td>");
		bhtml(b, g->name);
		bprintf(b, "</td><td>%s</td><td>", tarn_window_name(g->every));
		bhtml(b, g->by0 ? g->by0 : "");
		if (g->n_by > 1)
			bprintf(b, " +%zu", g->n_by - 1);
		bputs(b, "</td><td>");
		for (k = 0; k < g->n_m; k++) {
			bhtml(b, g->m_col[k]);
			bputs(b, k + 1 < g->n_m ? ", " : "");
		}
		bprintf(b, "</td><td data-key=\"rows\">%llu</td><td>%s</td></tr>",
			(unsigned long long)g->rows, when);
	}
	if (l->n)
		bputs(b, "</table>");
	bputs(b, "</section>");
	for (i = 0; i < l->n; i++) {
		const struct agg_decl *g = &l->a[i];

		for (k = 0; k < g->n_m; k++) {
			const struct dtab *t = &g->series[k];
			size_t n_groups = (size_t)num(t, 0, 4);

			bputs(b, "<section class=\"panel\" data-aggregate=\"");
			bhtml(b, g->name);
			bputs(b, "\" data-measure=\"");
			bhtml(b, g->m_col[k]);
			bputs(b, "\"><h2>");
			bhtml(b, g->name);
			bputs(b, " &middot; ");
			bhtml(b, g->m_col[k]);
			bputs(b, " <small>");
			bhtml(b, g->m_agg[k]);
			bprintf(b, " per %s", tarn_window_name(g->every));
			if (g->by0) {
				bputs(b, ", by ");
				bhtml(b, g->by0);
				if (n_groups > AGG_TOP)
					bprintf(b, " (top %d of %zu groups; the rest left out)",
						AGG_TOP, n_groups);
				if (g->n_by > 1 && agg_combine(g->m_agg[k]) != C_NONE)
					bprintf(b, "; the other --by columns combined by %s",
						combine_name[agg_combine(g->m_agg[k])]);
			}
			bputs(b, "</small></h2>");
			if (!agg_decl_ok(g))
				bputs(b,
				      "<p class=\"empty\">not drawn: a name in its declaration is "
				      "not a plain identifier</p>");
			else if (g->n_by > 1 && agg_combine(g->m_agg[k]) == C_NONE)
				bputs(b,
				      "<p class=\"empty\">not drawn: its values cannot be combined "
				      "over the other --by columns</p>");
			else
				svg_series(b, g, k);
			bputs(b, "</section>");
		}
	}
}

/* GET /api/aggregates: each declaration with its rows and last update. */
static json_t *aggs_json(const struct agg_list *l)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < l->n; i++) {
		const struct agg_decl *g = &l->a[i];
		json_t *o = json_deep_copy(g->decl);
		char when[28], path[96];

		updated_text(g->updated_us, when);
		snprintf(path, sizeof(path), "/api/aggregates/%s", g->name);
		json_object_set_new(o, "updated", g->updated_us ? json_string(when) : json_null());
		json_object_set_new(o, "updated_unix",
				    g->updated_us ? json_real((double)g->updated_us / 1e6)
						  : json_null());
		json_object_set_new(o, "series", json_string(path));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* GET /api/aggregates/NAME: the series the panels draw. */
static json_t *agg_series_json(const struct agg_decl *g)
{
	json_t *ms = json_array();
	size_t k;

	for (k = 0; ms && k < g->n_m; k++) {
		const struct dtab *t = &g->series[k];
		int drawn = agg_decl_ok(g) && !(g->n_by > 1 && agg_combine(g->m_agg[k]) == C_NONE);
		json_t *series = drawn ? json_array() : json_null();
		size_t from, r;

		for (from = 0; drawn && from < t->n_rows; from = group_end(t, from)) {
			size_t to = group_end(t, from);
			json_t *pts = json_array();

			for (r = from; r < to; r++)
				json_array_append_new(pts,
						      json_pack("[o,o]", cell_json(cell(t, r, 2)),
								cell_json(cell(t, r, 3))));
			json_array_append_new(series, json_pack("{s:o,s:o}", "group",
								cell_json(cell(t, from, 0)),
								"points", pts));
		}
		json_array_append_new(
			ms, json_pack("{s:s,s:s,s:o,s:o}", "col", g->m_col[k], "expr", g->m_agg[k],
				      "groups",
				      drawn ? json_integer((json_int_t)num(t, 0, 4)) : json_null(),
				      "series", series));
	}
	return json_pack("{s:s,s:s,s:s,s:o,s:i,s:i,s:o}", "name", g->name, "window",
			 tarn_window_name(g->every), "x", x_column(g->every), "by",
			 g->by0 ? json_string(g->by0) : json_null(), "top", AGG_TOP, "windows",
			 AGG_WINDOWS, "measures", ms);
}

static void agg_metrics(struct buf *b, const struct agg_list *l)
{
	size_t i;

	bputs(b, "# HELP tarn_aggregate_rows Rows in a declared aggregate's table.\n"
		 "# TYPE tarn_aggregate_rows gauge\n");
	for (i = 0; i < l->n; i++) {
		bputs(b, "tarn_aggregate_rows{aggregate=\"");
		prom_label(b, l->a[i].name);
		bprintf(b, "\"} %llu\n", (unsigned long long)l->a[i].rows);
	}
	bputs(b, "# HELP tarn_aggregate_last_update_timestamp_seconds When a commit last changed"
		 " a declared aggregate's rows (or it was created), seconds since the Unix"
		 " epoch.\n"
		 "# TYPE tarn_aggregate_last_update_timestamp_seconds gauge\n");
	for (i = 0; i < l->n; i++) {
		bputs(b, "tarn_aggregate_last_update_timestamp_seconds{aggregate=\"");
		prom_label(b, l->a[i].name);
		bprintf(b, "\"} %.6f\n", (double)l->a[i].updated_us / 1e6);
	}
}

/* ---- routes ---- */

static int find_table(const char *name)
{
	size_t i;

	for (i = 0; i < N_TABLES; i++)
		if (strcmp(tables[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int api_index(struct buf *out)
{
	json_t *arr = json_array();
	size_t i;

	json_array_append_new(arr, json_string("/api/health"));
	json_array_append_new(arr, json_string("/api/aggregates"));
	for (i = 0; i < N_TABLES; i++) {
		char p[80];

		snprintf(p, sizeof(p), "/api/%s", tables[i].name);
		json_array_append_new(arr, json_string(p));
	}
	return json_body(json_pack("{s:o,s:s}", "tables", arr, "metrics", "/metrics"), out);
}

static int error_json(struct buf *out, int status, const char *what)
{
	return json_body(json_pack("{s:s}", "error", what), out) == 200 ? status : 500;
}

/* A failure to read the lake: the client gets the status and a short fixed
 * reason; what failed, with file paths and SQLite's text, is kept in
 * reply->detail for the server's log, since it tells a client about the
 * server's files. */
static int lake_failed(struct dash_reply *reply, int rc)
{
	const char *last = tarn_error_last();
	int status = 500;

	reply->reason = "lake unreadable";
	if (rc == TARN_EBUSY) {
		status = 503;
		reply->reason = "lake busy";
	} else if (rc == TARN_ENOTFOUND) {
		status = 503;
		reply->reason = "lake not found";
	} else if (rc == TARN_ENOMEM) {
		reply->reason = "out of memory";
	}
	snprintf(reply->detail, sizeof(reply->detail), "%s", *last ? last : tarn_strerror(rc));
	return status;
}

/* GET /api/aggregates/NAME: NAME selects a declaration of the catalog;
 * anything else is 404 with a short reason. */
static int agg_route(struct buf *b, struct dash_reply *reply, const char *dir, const char *name)
{
	struct agg_list l;
	size_t i;
	int found = 0, rc, status;

	if (!ident_ok(name))
		return error_json(b, 404, "no such aggregate; see /api/aggregates");
	rc = aggs_load(&l, dir, 1, name, &found);
	if (rc) {
		status = lake_failed(reply, rc);
		status = error_json(b, status, reply->reason);
	} else if (!found) {
		status = error_json(b, 404, "no such aggregate; see /api/aggregates");
	} else {
		for (i = 0; strcmp(l.a[i].name, name) != 0; i++)
			;
		status = json_body(agg_series_json(&l.a[i]), b);
	}
	agg_list_free(&l);
	return status;
}

int dash_render(const char *dir, const char *path, int refresh_s, const struct serve_counters *sc,
		struct dash_reply *reply)
{
	struct buf b = { NULL, 0, 0, 0 };
	struct dash d;
	struct agg_list al = { NULL, 0, 0, 0 };
	int status = 200, rc;

	reply->type = "application/json";
	reply->reason = NULL;
	reply->detail[0] = '\0';
	if (strcmp(path, "/") == 0 || strcmp(path, "/panels") == 0) {
		int whole = path[1] == '\0';

		reply->type = "text/html; charset=utf-8";
		rc = dash_load(&d, dir, ALL_TABLES, 1);
		if (!rc)
			rc = aggs_load(&al, dir, 1, NULL, NULL);
		if (whole) {
			bputs(&b, page_head);
			bputs(&b, "<body><header><h1>tarn &middot; live event lake</h1></header>"
				  "<main id=\"panels\">");
		}
		if (rc) {
			status = lake_failed(reply, rc);
			error_block(&b, reply->reason);
			/* the page keeps refreshing until the lake can be read */
			if (whole)
				status = 200;
		} else {
			panels(&b, &d);
			agg_panels(&b, &al);
			bputs(&b, "</div>");
		}
		if (whole) {
			bputs(&b, "</main>");
			bprintf(&b, page_script, refresh_s * 1000);
			bputs(&b, "</body></html>\n");
		}
		dash_free(&d);
	} else if (strcmp(path, "/metrics") == 0) {
		reply->type = "text/plain; version=0.0.4; charset=utf-8";
		rc = dash_load(&d, dir, BIT(T_QUAR) | BIT(T_MARKS) | BIT(T_CONV), 1);
		if (!rc)
			rc = aggs_load(&al, dir, 0, NULL, NULL);
		if (rc) {
			status = lake_failed(reply, rc);
			bprintf(&b, "# cannot read the lake: %s\n", reply->reason);
		} else {
			metrics(&b, &d, sc);
			agg_metrics(&b, &al);
		}
		dash_free(&d);
	} else if (strcmp(path, "/api/aggregates") == 0) {
		rc = aggs_load(&al, dir, 0, NULL, NULL);
		if (rc) {
			status = lake_failed(reply, rc);
			status = error_json(&b, status, reply->reason);
		} else {
			status = json_body(aggs_json(&al), &b);
		}
	} else if (strncmp(path, "/api/aggregates/", 16) == 0) {
		status = agg_route(&b, reply, dir, path + 16);
	} else if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0) {
		status = api_index(&b);
	} else if (strcmp(path, "/api/health") == 0) {
		rc = dash_load(&d, dir, BIT(T_QUAR) | BIT(T_MARKS), 1);
		if (rc) {
			status = lake_failed(reply, rc);
			status = error_json(&b, status, reply->reason);
		} else {
			status = json_body(health_json(&d), &b);
		}
		dash_free(&d);
	} else if (strncmp(path, "/api/", 5) == 0 && find_table(path + 5) >= 0) {
		rc = dash_load(&d, dir, BIT(find_table(path + 5)), 0);
		if (rc) {
			status = lake_failed(reply, rc);
			status = error_json(&b, status, reply->reason);
		} else {
			status = json_body(dtab_json(&d.t[find_table(path + 5)]), &b);
		}
		dash_free(&d);
	} else {
		status = error_json(&b, 404, "no such page; see /api/");
	}
	agg_list_free(&al);
	if (b.oom) {
		free(b.p);
		return -1;
	}
	reply->body = b.p;
	reply->len = b.len;
	return status;
}
