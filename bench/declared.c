/* Nested-shape input and ten declarations for the bench's declared
 * aggregate lines (declared.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "declared.h"
#include "mixed.h"

static uint64_t rng_state;

static unsigned below(unsigned n)
{
	return (unsigned)(bench_splitmix64(&rng_state) % n);
}

static const char *const types[] = { "login", "click", "click",	   "click",
				     "click", "view",  "purchase", "logout" };
static const char *const pages[] = { "/", "/home", "/search", "/product/17", "/cart" };
static const char *const countries[] = { "DE", "FR", "US", "BR", "JP", "IN", "NG", "AU" };
static const char *const oses[] = { "android", "ios", "windows", "macos", "linux" };
static const char *const currencies[] = { "EUR", "USD", "JPY", "BRL" };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int event_line(char *buf, size_t cap, uint64_t i, int64_t t_us)
{
	char ts[80], order[160] = "";
	time_t sec = (time_t)(t_us / 1000000);
	const char *type = types[below(N_OF(types))];
	unsigned c = below(N_OF(countries));
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(t_us / 1000 % 1000));
	if (strcmp(type, "purchase") == 0 || below(5) == 0) {
		unsigned cents = 100 + below(30000);
		snprintf(order, sizeof(order),
			 ",\"order\":{\"amount\":%u.%02u,\"qty\":%u,\"currency\":\"%s\"}",
			 cents / 100, cents % 100, 1 + below(5),
			 currencies[below(N_OF(currencies))]);
	}
	return snprintf(buf, cap,
			"{\"event_id\":\"n-%llu\",\"timestamp\":\"%s\",\"event_type\":\"%s\","
			"\"user_id\":\"user_%05u\",\"page\":\"%s\",\"source\":\"%s\","
			"\"ctx\":{\"geo\":{\"country\":\"%s\",\"region\":\"%s-%u\"},"
			"\"device\":{\"os\":\"%s\",\"app\":{\"version\":\"3.%u\"}}}%s}\n",
			(unsigned long long)i, ts, type, below(20000), pages[below(N_OF(pages))],
			below(3) ? "web" : "mobile", countries[c], countries[c], below(12),
			oses[below(N_OF(oses))], below(8), order);
}

uint64_t declared_input(const char *path, uint64_t n, int days, int64_t start_us)
{
	static char line[1024], again[1024];
	int64_t span = (int64_t)days * 86400000000LL, step_us = span / (int64_t)(n ? n : 1);
	uint64_t i, lines = 0, due = 0;
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	rng_state = 20261207;
	again[0] = '\0';
	for (i = 0; i < n; i++) {
		int64_t t = start_us + (int64_t)i * step_us + (int64_t)below((unsigned)step_us + 1);

		event_line(line, sizeof(line), i, t);
		fputs(line, f);
		lines++;
		if (again[0] && i >= due) {
			fputs(again, f);
			lines++;
			again[0] = '\0';
		}
		if (!again[0] && below(100) < 3) {
			memcpy(again, line, sizeof(again));
			due = i + 1 + below(50);
		}
	}
	if (again[0]) {
		fputs(again, f);
		lines++;
	}
	if (fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	return lines;
}

#define P(path) "payload->>'$." path "'"
#define AMOUNT	P("order.amount")

static const char *const d_geo_day[] = { "geo_day",
					 "--every",
					 "day",
					 "--by",
					 "country=" P("ctx.geo.country"),
					 "--measure",
					 "n=count(*)",
					 "--measure",
					 "amount=sum(" AMOUNT ")",
					 NULL };
static const char *const d_geo_hour[] = { "geo_hour",
					  "--every",
					  "hour",
					  "--by",
					  "country=" P("ctx.geo.country"),
					  "--by",
					  "region=" P("ctx.geo.region"),
					  "--measure",
					  "n=count(*)",
					  NULL };
static const char *const d_os_minute[] = {
	"os_minute", "--every",	   "minute", "--by", "os=" P("ctx.device.os"),
	"--measure", "n=count(*)", NULL
};
static const char *const d_users_day[] = { "users_day",
					   "--every",
					   "day",
					   "--by",
					   "country=" P("ctx.geo.country"),
					   "--measure",
					   "users=count(DISTINCT " P("user_id") ")",
					   NULL };
static const char *const d_app_hour[] = { "app_hour",
					  "--every",
					  "hour",
					  "--by",
					  "version=" P("ctx.device.app.version"),
					  "--measure",
					  "users=count(DISTINCT " P("user_id") ")",
					  "--measure",
					  "n=count(*)",
					  NULL };
static const char *const d_revenue_day[] = { "revenue_day",
					     "--every",
					     "day",
					     "--where",
					     "event_name = 'purchase'",
					     "--by",
					     "currency=" P("order.currency"),
					     "--measure",
					     "total=sum(" AMOUNT ")",
					     "--measure",
					     "mean=avg(" AMOUNT ")",
					     "--measure",
					     "top=max(" AMOUNT ")",
					     NULL };
static const char *const d_big_hour[] = { "big_hour",
					  "--every",
					  "hour",
					  "--measure",
					  "big=count(*) FILTER (WHERE " AMOUNT " >= 100)",
					  "--measure",
					  "eur=sum(" AMOUNT
					  ") FILTER (WHERE " P("order.currency") " = 'EUR')",
					  NULL };
static const char *const d_qty_minute[] = { "qty_minute",
					    "--every",
					    "minute",
					    "--by",
					    "currency=" P("order.currency"),
					    "--measure",
					    "qty=sum(" P("order.qty") ")",
					    "--measure",
					    "orders=count(" AMOUNT ")",
					    NULL };
static const char *const d_range_hour[] = { "range_hour",
					    "--every",
					    "hour",
					    "--by",
					    "country=" P("ctx.geo.country"),
					    "--measure",
					    "lo=min(" AMOUNT ")",
					    "--measure",
					    "hi=max(" AMOUNT ")",
					    NULL };
static const char *const d_mobile_day[] = {
	"mobile_day",
	"--every",
	"day",
	"--where",
	P("source") " = 'mobile'",
	"--by",
	"page=" P("page"),
	"--by",
	"os=" P("ctx.device.os"),
	"--measure",
	"n=count(*)",
	"--measure",
	"buyers=count(DISTINCT " P("user_id") ") FILTER (WHERE event_name = 'purchase')",
	NULL
};

const struct declared declared_ten[10] = {
	{ "geo_day", "day, 1 by, count + decimal sum", d_geo_day },
	{ "geo_hour", "hour, 2 by, count", d_geo_hour },
	{ "os_minute", "minute, 1 by, count", d_os_minute },
	{ "users_day", "day, 1 by, distinct count", d_users_day },
	{ "app_hour", "hour, 1 by, distinct count + count", d_app_hour },
	{ "revenue_day", "day, where, 1 by, decimal sum + avg + max", d_revenue_day },
	{ "big_hour", "hour, 0 by, count FILTER + decimal sum FILTER", d_big_hour },
	{ "qty_minute", "minute, 1 by, integer sum + count(E)", d_qty_minute },
	{ "range_hour", "hour, 1 by, min + max", d_range_hour },
	{ "mobile_day", "day, where, 2 by, count + distinct FILTER", d_mobile_day },
};
