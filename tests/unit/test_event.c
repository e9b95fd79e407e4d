/* Unit tests of time parsing, header blocks and event extraction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tarn/tarn.h"
#include "event_scan.h"

static int64_t t(const char *s)
{
	int64_t us = 0;

	if (tarn_time_parse(s, strlen(s), &us) != TARN_OK)
		fail_msg("'%s' did not parse: %s", s, tarn_error_last());
	return us;
}

static int bad_time(const char *s)
{
	int64_t us = 12345;
	int rc = tarn_time_parse(s, strlen(s), &us);

	return rc == TARN_EINVAL && us == 12345;
}

static void time__rfc3339_forms(void **state)
{
	(void)state;
	assert_int_equal(t("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(t("2026-11-20T00:00:00Z"), 1795132800000000LL);
	assert_int_equal(t("2026-11-20T00:00:00.5Z"), 1795132800500000LL);
	assert_int_equal(t("2026-11-20T00:00:00.123456789Z"), 1795132800123456LL);
	assert_int_equal(t("2026-11-20t00:00:00z"), 1795132800000000LL);
	assert_int_equal(t("2026-11-20 00:00:00Z"), 1795132800000000LL);
	/* offsets: local time minus offset is UTC */
	assert_int_equal(t("2026-11-20T14:00:00+14:00"), 1795132800000000LL);
	assert_int_equal(t("2026-11-19T12:00:00-12:00"), 1795132800000000LL);
	/* leap second folds onto the last microsecond of the minute */
	assert_int_equal(t("2016-12-31T23:59:60Z"), t("2016-12-31T23:59:59.999999Z"));
	assert_int_equal(t("0001-01-01T00:00:00Z"), TARN_TIME_MIN_US);
	assert_int_equal(t("9999-12-31T23:59:59.999999Z"), TARN_TIME_MAX_US);
	assert_int_equal(t("1969-12-31T23:59:59Z"), -1000000);
}

static void time__rejects(void **state)
{
	(void)state;
	assert_true(bad_time("2026-13-01T00:00:00Z"));
	assert_true(bad_time("2026-04-31T00:00:00Z"));
	assert_true(bad_time("2026-02-29T00:00:00Z")); /* not a leap year */
	assert_true(bad_time("2026-11-20T24:00:00Z"));
	assert_true(bad_time("2026-11-20T00:00:00")); /* no offset */
	assert_true(bad_time("2026-11-20T00:00:00+1400"));
	assert_true(bad_time("2026-11-20T00:00:00Zjunk"));
	assert_true(bad_time("0000-01-01T00:00:00Z")); /* year 0 */
	assert_true(bad_time("10000-01-01T00:00:00Z"));
	assert_true(bad_time("0001-01-01T00:00:00+00:01")); /* before year 1 in UTC */
	assert_true(bad_time(""));
	assert_true(bad_time("-"));
	assert_true(bad_time("99999999999999999999"));
	assert_false(bad_time("2028-02-29T00:00:00Z"));
}

static void time__epoch_ms_and_format(void **state)
{
	char buf[28], date[11];

	(void)state;
	assert_int_equal(t("1795132800123"), 1795132800123000LL);
	assert_int_equal(t("-1000"), -1000000);
	assert_int_equal(tarn_time_format(1795132800123456LL, buf), TARN_OK);
	assert_string_equal(buf, "2026-11-20T00:00:00.123456Z");
	assert_int_equal(tarn_time_format(-1, buf), TARN_OK);
	assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
	assert_int_equal(tarn_time_date(-1, date), TARN_OK);
	assert_string_equal(date, "1969-12-31");
	assert_int_equal(tarn_time_date(TARN_TIME_MAX_US, date), TARN_OK);
	assert_string_equal(date, "9999-12-31");
	assert_int_equal(tarn_time_date(TARN_TIME_MAX_US + 1, date), TARN_EINVAL);
	assert_int_equal(tarn_time_parse_date("2026-11-20", NULL), TARN_OK);
	assert_int_equal(tarn_time_parse_date("2026-11-20.db", NULL), TARN_EINVAL);
	assert_int_equal(tarn_time_parse_date("../../etc", NULL), TARN_EINVAL);
}

static void headers__append_get_next(void **state)
{
	unsigned char *b = NULL;
	size_t len = 0, cap = 0, pos = 0;
	tarn_header h;
	int n = 0;

	(void)state;
	assert_int_equal(tarn_headers_append(&b, &len, &cap, "a", 1, "1", 1), TARN_OK);
	assert_int_equal(tarn_headers_append(&b, &len, &cap, "nul", 3, NULL, 0), TARN_OK);
	assert_int_equal(tarn_headers_append(&b, &len, &cap, "a", 1, "\0\xff", 2), TARN_OK);
	assert_int_equal(len, (2 + 1 + 4 + 1) + (2 + 3 + 4) + (2 + 1 + 4 + 2));
	assert_int_equal(tarn_headers_get(b, len, "a", &h), TARN_OK);
	assert_memory_equal(h.value, "1", 1); /* the first of repeated names */
	assert_int_equal(tarn_headers_get(b, len, "nul", &h), TARN_OK);
	assert_null(h.value);
	assert_int_equal(tarn_headers_get(b, len, "A", &h), TARN_ENOTFOUND);
	while (tarn_headers_next(b, len, &pos, &h) == TARN_OK)
		n++;
	assert_int_equal(n, 3);
	/* a truncated block is reported, never read past */
	pos = 0;
	assert_int_equal(tarn_headers_next(b, 5, &pos, &h), TARN_ECORRUPT);
	free(b);
}

static tarn_event ev;
static tarn_reject why;
static char detail[256];

static int extract(const char *payload)
{
	tarn_event_init(&ev);
	ev.payload = payload;
	ev.payload_len = strlen(payload);
	return tarn_event_extract(&ev, NULL, &why, detail, sizeof(detail));
}

static void event__producer_shape(void **state)
{
	char id[64];

	(void)state;
	assert_int_equal(
		extract("{\"event_id\":\"6F1C0E3A-8A8E-4C1E-9A51-0A6D6B0C0001\","
			"\"user_id\":\"user_0001\",\"event_type\":\"purchase\",\"page\":\"/cart\","
			"\"timestamp\":\"2026-11-20T08:05:00.000Z\",\"source\":\"web\"}"),
		TARN_OK);
	assert_int_equal(why, TARN_REJECT_NONE);
	assert_true(ev.id_is_uuid);
	assert_int_equal(ev.id_len, 16);
	assert_int_equal(ev.id[0], 0x6f);
	assert_int_equal(tarn_event_id_format(ev.id, ev.id_len, 1, id, sizeof(id)), TARN_OK);
	assert_string_equal(id, "6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c0001");
	assert_int_equal(ev.time_us, 1795161900000000LL); /* 08:05Z */
	assert_true(ev.has_name);
	assert_string_equal(ev.name, "purchase");
	assert_string_equal(ev.user_id, "user_0001");
	assert_string_equal(ev.page, "/cart");
	assert_string_equal(ev.source, "web");
}

static void event__rejects_with_reasons(void **state)
{
	char big[400];

	(void)state;
	assert_int_equal(extract("not json"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	assert_int_equal(extract("[1]"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_OBJECT);
	assert_int_equal(extract("\"s\""), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_OBJECT);
	assert_int_equal(extract("{\"timestamp\":\"2026-11-20T00:00:00Z\"}"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NO_ID);
	assert_int_equal(extract("{\"event_id\":\"\",\"timestamp\":\"2026-11-20T00:00:00Z\"}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_ID);
	memset(big, 'x', 300);
	big[300] = '\0';
	{
		char p[512];
		snprintf(p, sizeof(p),
			 "{\"event_id\":\"%s\",\"timestamp\":\"2026-11-20T00:00:00Z\"}", big);
		assert_int_equal(extract(p), TARN_EINVAL);
		assert_int_equal(why, TARN_REJECT_BAD_ID);
		assert_true(strlen(detail) < 120); /* the id is quoted, truncated */
	}
	assert_int_equal(extract("{\"event_id\":[1],\"timestamp\":\"2026-11-20T00:00:00Z\"}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_ID);
	assert_int_equal(extract("{\"event_id\":\"a\"}"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NO_TIME);
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":\"2026-13-45T00:00:00Z\"}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_TIME);
	assert_non_null(strstr(detail, "2026-13-45"));
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":true}"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_TIME);
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":\"0\",\"event_name\":5}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_NAME);
	assert_string_equal(tarn_reject_name(TARN_REJECT_CONFLICTING_DUPLICATE),
			    "conflicting_duplicate");
}

static void event__hostile_inputs(void **state)
{
	size_t n = 16 * 1024 * 1024, i;
	char *p = malloc(n + 1);

	(void)state;
	/* a 16 MB line is refused before parsing */
	memset(p, ' ', n);
	p[n] = '\0';
	tarn_event_init(&ev);
	ev.payload = p;
	ev.payload_len = n;
	assert_int_equal(tarn_event_extract(&ev, NULL, &why, detail, sizeof(detail)), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_OVERSIZED);
	/* nesting 100,000 deep fails cleanly */
	for (i = 0; i < 100000; i++)
		p[i] = '[';
	p[100000] = '\0';
	assert_int_equal(extract(p), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	free(p);
	/* NUL bytes: raw NUL is not JSON; \u0000 inside a string is */
	tarn_event_init(&ev);
	ev.payload = "{\"event_id\":\"a\0b\"}";
	ev.payload_len = 19;
	assert_int_equal(tarn_event_extract(&ev, NULL, &why, NULL, 0), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	assert_int_equal(
		extract("{\"event_id\":\"a\\u0000b\",\"timestamp\":\"2026-11-20T00:00:00Z\"}"),
		TARN_OK);
	assert_int_equal(ev.id_len, 3);
	/* invalid UTF-8 is not JSON (RFC 8259 section 8.1) */
	assert_int_equal(
		extract("{\"event_id\":\"\xff\xfe\",\"timestamp\":\"2026-11-20T00:00:00Z\"}"),
		TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	/* names with quotes, newlines, SQL and path parts are just text */
	assert_int_equal(extract("{\"event_id\":\"../x\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				 "\"event_name\":\"a'\\\"; DROP TABLE events; --\\n/../\"}"),
			 TARN_OK);
	assert_string_equal(ev.name, "a'\"; DROP TABLE events; --\n/../");
	assert_int_equal(ev.id_len, 4);
	assert_false(ev.id_is_uuid);
	/* a numeric id is its decimal text */
	assert_int_equal(extract("{\"event_id\":12345,\"timestamp\":1795132800000}"), TARN_OK);
	assert_int_equal(ev.id_len, 5);
	assert_memory_equal(ev.id, "12345", 5);
	assert_int_equal(ev.time_us, 1795132800000000LL);
	/* times out of range are rejected, not wrapped */
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":\"10000-01-01T00:00:00Z\"}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_TIME);
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":9223372036854775807}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_TIME);
}

static void event__headers_win_and_paths(void **state)
{
	tarn_extract_options o = TARN_EXTRACT_OPTIONS_INIT;
	unsigned char *h = NULL;
	size_t len = 0, cap = 0;
	static const char pretty[] =
		"{\n  \"meta\": {\n    \"id\": \"nested-1\",\n"
		"    \"at\": \"2026-11-20T01:00:00Z\"\n  },\n  \"event_type\": \"x\"\n}";

	(void)state;
	tarn_headers_append(&h, &len, &cap, "event_id", 8, "from-header", 11);
	tarn_headers_append(&h, &len, &cap, "event_name", 10, "hdr-name", 8);
	tarn_headers_append(&h, &len, &cap, "published_at", 12, "2026-11-21T00:00:00Z", 20);
	tarn_event_init(&ev);
	ev.payload = "{\"event_id\":\"from-payload\",\"timestamp\":\"2026-11-20T00:00:00Z\","
		     "\"event_type\":\"click\"}";
	ev.payload_len = strlen(ev.payload);
	ev.headers = h;
	ev.headers_len = len;
	assert_int_equal(tarn_event_extract(&ev, NULL, &why, NULL, 0), TARN_OK);
	assert_memory_equal(ev.id, "from-header", 11);
	assert_string_equal(ev.name, "hdr-name");
	assert_int_equal(ev.time_us, 1795219200000000LL);
	free(h);
	/* dotted paths into nested, pretty-printed JSON */
	o.id_field = "meta.id";
	o.time_field = "meta.at";
	tarn_event_init(&ev);
	ev.payload = pretty;
	ev.payload_len = strlen(pretty);
	assert_int_equal(tarn_event_extract(&ev, &o, &why, NULL, 0), TARN_OK);
	assert_memory_equal(ev.id, "nested-1", 8);
	assert_int_equal(ev.time_us, 1795136400000000LL);
	assert_string_equal(ev.name, "x");
	/* a key met again replaces everything under it; arrays are not walked */
	tarn_event_init(&ev);
	ev.payload = "{\"meta\":{\"id\":\"old\",\"at\":\"2026-11-20T01:00:00Z\"},"
		     "\"meta\":{\"at\":\"2026-11-20T02:00:00Z\"}}";
	ev.payload_len = strlen(ev.payload);
	assert_int_equal(tarn_event_extract(&ev, &o, &why, NULL, 0), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NO_ID);
	ev.payload = "{\"meta\":[{\"id\":\"in-array\",\"at\":\"2026-11-20T01:00:00Z\"}],"
		     "\"x\":{\"meta\":{\"id\":\"deeper\"}}}";
	ev.payload_len = strlen(ev.payload);
	assert_int_equal(tarn_event_extract(&ev, &o, &why, NULL, 0), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NO_ID);
	ev.payload = "{\"meta\":{\"deep\":{\"id\":\"no\"},\"id\":\"yes\","
		     "\"at\":\"2026-11-20T01:00:00Z\"}}";
	ev.payload_len = strlen(ev.payload);
	assert_int_equal(tarn_event_extract(&ev, &o, &why, NULL, 0), TARN_OK);
	assert_int_equal(ev.id_len, 3);
	assert_memory_equal(ev.id, "yes", 3);
	/* no time anywhere but the Kafka CreateTime */
	tarn_event_init(&ev);
	ev.payload = "{\"event_id\":\"k\"}";
	ev.payload_len = strlen(ev.payload);
	ev.kafka_ts_us = 1795132800000000LL;
	ev.kafka_ts_is_create = 1;
	assert_int_equal(tarn_event_extract(&ev, NULL, &why, NULL, 0), TARN_OK);
	assert_int_equal(ev.time_us, 1795132800000000LL);
	ev.kafka_ts_is_create = 0; /* LogAppendTime is not the event's time */
	assert_int_equal(tarn_event_extract(&ev, NULL, &why, NULL, 0), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NO_TIME);
}

/* Strings off the wanted paths are not handed to tarn (their escapes are
 * not undone) but are still validated; wanted ones still are undone. */
static void event__escapes_on_and_off_the_paths(void **state)
{
	static const char pay[] =
		"{\"note\":\"caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\","
		"\"props\":{\"k\\u0065y\":\"\\u0041\",\"list\":[\"\\n\",1]},"
		"\"event_id\":\"0c1d2e3f-0000-4000-8000-00000000abcd\","
		"\"user_id\":\"caf\\u00e9\",\"page\":\"\\/cart\","
		"\"timestamp\":\"2026-11-20T00:00:00Z\",\"event_type\":\"a\\tb\"}";
	char id[64];

	(void)state;
	assert_int_equal(extract(pay), TARN_OK);
	assert_string_equal(ev.user_id, "caf\xc3\xa9");
	assert_string_equal(ev.page, "/cart");
	assert_string_equal(ev.event_type, "a\tb");
	assert_int_equal(tarn_event_id_format(ev.id, ev.id_len, 1, id, sizeof(id)), TARN_OK);
	assert_string_equal(id, "0c1d2e3f-0000-4000-8000-00000000abcd");
	/* where the id's text is, for the block's elision */
	assert_int_equal(ev.id_text_at, (size_t)(strstr(pay, "0c1d2e3f") - pay));
	/* bad escapes and bad UTF-8 off the paths are still refused */
	assert_int_equal(extract("{\"event_id\":\"e\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				 "\"x\":{\"y\":\"\\u00zz\"}}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	assert_int_equal(extract("{\"event_id\":\"e\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				 "\"x\":[\"\\q\"]}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	assert_int_equal(extract("{\"event_id\":\"e\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				 "\"x\":\"\xc3\x28\"}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	/* a UUID id given with escapes, or in a header, has no place in the
	 * payload to point at */
	assert_int_equal(extract("{\"event_id\":\"\\u0030c1d2e3f-0000-4000-8000-00000000abcd\","
				 "\"timestamp\":\"2026-11-20T00:00:00Z\"}"),
			 TARN_OK);
	assert_true(ev.id_is_uuid);
	assert_true(ev.id_text_at == SIZE_MAX);
	assert_int_equal(extract("{\"event_id\":\"plain-text-id\","
				 "\"timestamp\":\"2026-11-20T00:00:00Z\"}"),
			 TARN_OK);
	assert_true(ev.id_text_at == SIZE_MAX);
}

/* Where JSON parsers differ, the choice made (yajl, strict). */
static char *nested(int depth)
{
	static const char head[] =
		"{\"event_id\":\"n-1\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"x\":";
	size_t n = strlen(head);
	char *p = malloc(n + 2 * (size_t)depth + 8);
	int i;

	assert_non_null(p);
	memcpy(p, head, n);
	for (i = 0; i < depth; i++)
		p[n++] = '[';
	for (i = 0; i < depth; i++)
		p[n++] = ']';
	p[n++] = '}';
	p[n] = '\0';
	return p;
}

/* tarn__json_lookup reads paths as SQLite's ->> does: the first of a
 * repeated key (even when its object lacks the rest of the path), no
 * match through a key written with escapes, the value's type and text as
 * written; it stops once every path has its value. */
static void event__lookup_as_sqlite_reads(void **state)
{
	static const char *const dotted[] = { "a", "b.c", "s", "e", "n", "r", "t", "o", "x" };
	const char *json = "{\"a\":1,\"a\":2,\"b\":{\"d\":1},\"b\":{\"c\":3},"
			   "\"s\":\"x\\u00e9\",\"\\u0065\":5,\"n\":-12,\"r\":1.50,\"t\":true,"
			   "\"o\":{\"k\":[1]}}";
	tarn__jpath p[9];
	const tarn__jpath *pp[9];
	tarn__jvalue v[9];
	int i;

	(void)state;
	for (i = 0; i < 9; i++) {
		tarn__jpath_compile(&p[i], dotted[i]);
		pp[i] = &p[i];
	}
	assert_int_equal(tarn__json_lookup(json, strlen(json), pp, 9, v), 0);
	assert_int_equal(v[0].type, TARN__J_INTEGER); /* the first "a" */
	assert_int_equal(v[0].len, 1);
	assert_memory_equal(v[0].s, "1", 1);
	assert_int_equal(v[1].type, TARN__J_NONE); /* the first "b" has no "c" */
	assert_int_equal(v[2].type, TARN__J_STRING);
	assert_int_equal(v[2].in_payload, 0);	   /* decoded: not the payload's bytes */
	assert_int_equal(v[3].type, TARN__J_NONE); /* "\u0065" is not "e" for SQLite */
	assert_int_equal(v[4].type, TARN__J_INTEGER);
	assert_int_equal(v[5].type, TARN__J_REAL);
	assert_int_equal(v[5].len, 4);
	assert_memory_equal(v[5].s, "1.50", 4);
	assert_int_equal(v[6].type, TARN__J_TRUE);
	assert_int_equal(v[7].type, TARN__J_CONTAINER);
	assert_int_equal(v[8].type, TARN__J_NONE);
	/* every path found before a broken tail: the tail is not read */
	assert_int_equal(tarn__json_lookup("{\"a\":1,\"b\":{\"c\":2},]", 20, pp, 2, v), 0);
	assert_int_equal(v[1].type, TARN__J_INTEGER);
	/* a path still missing when the text breaks: an error */
	assert_int_equal(tarn__json_lookup("{\"a\":1,]", 8, pp, 3, v), -1);
}

/* Extraction and the aggregates' paths in one parse: each keeps its own
 * rule. Extraction takes the last of a repeated key and reads escaped
 * keys; the paths read as tarn__json_lookup (SQLite) does: the first key,
 * never an escaped one, the same values as a lookup of their own. */
static void event__extract_with_paths(void **state)
{
	static const char *const dotted[] = { "a", "b.c", "s", "e", "event_id", "user_id" };
	const char *json = "{\"event_id\":\"first\",\"a\":1,\"a\":2,\"b\":{\"d\":1},"
			   "\"b\":{\"c\":3},\"s\":\"x\\u00e9\",\"\\u0065\":5,\"e\":6,"
			   "\"\\u0075ser_id\":\"u1\",\"timestamp\":\"2026-11-20T10:00:00Z\","
			   "\"event_id\":\"last\"}";
	tarn__jpath p[6];
	const tarn__jpath *pp[6];
	tarn__jvalue v[6], w[6];
	int i;

	(void)state;
	for (i = 0; i < 6; i++) {
		tarn__jpath_compile(&p[i], dotted[i]);
		pp[i] = &p[i];
	}
	tarn_event_init(&ev);
	ev.payload = json;
	ev.payload_len = strlen(json);
	assert_int_equal(
		tarn__event_extract_paths(&ev, NULL, pp, 6, v, &why, detail, sizeof(detail)),
		TARN_OK);
	/* extraction's own rules */
	assert_int_equal(ev.id_len, 4);
	assert_memory_equal(ev.id, "last", 4);
	assert_int_equal(ev.has_user_id, 1); /* its paths read escaped keys */
	assert_string_equal(ev.user_id, "u1");
	/* the paths': as the lookup reads them */
	assert_int_equal(tarn__json_lookup(json, strlen(json), pp, 6, w), 0);
	for (i = 0; i < 6; i++) {
		assert_int_equal(v[i].type, w[i].type);
		if (v[i].type == TARN__J_NONE)
			continue; /* no value: its other fields are not set */
		assert_int_equal(v[i].len, w[i].len);
		assert_int_equal(v[i].in_payload, w[i].in_payload);
		assert_memory_equal(v[i].s, w[i].s, v[i].len);
	}
	assert_memory_equal(v[0].s, "1", 1);	   /* the first "a" */
	assert_int_equal(v[1].type, TARN__J_NONE); /* the first "b" has no "c" */
	assert_int_equal(v[3].type, TARN__J_INTEGER);
	assert_memory_equal(v[3].s, "6", 1); /* "\u0065" is not "e" */
	assert_memory_equal(v[4].s, "first", 5);
	assert_int_equal(v[5].type, TARN__J_NONE);
	/* a rejected input: extraction's error, as without paths */
	ev.payload = "[1]";
	ev.payload_len = 3;
	assert_int_equal(
		tarn__event_extract_paths(&ev, NULL, pp, 6, v, &why, detail, sizeof(detail)),
		TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_OBJECT);
}

static void event__parser_edges(void **state)
{
	char *deep;

	(void)state;
	/* nesting: 500 levels are fine, 600 are refused (limit 512) */
	deep = nested(500);
	assert_int_equal(extract(deep), TARN_OK);
	free(deep);
	deep = nested(600);
	assert_int_equal(extract(deep), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	free(deep);
	/* one JSON text only; trailing white space is fine */
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":1795132800000} {}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":1795132800000} \r\n"), TARN_OK);
	/* values that are JSON but not objects, bare numbers included */
	assert_int_equal(extract("123"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_OBJECT);
	assert_int_equal(extract("null"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_OBJECT);
	/* non-strict extensions are refused */
	assert_int_equal(extract("{'event_id':'a','timestamp':1795132800000}"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":1795132800000,}"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	/* a present but null time is a bad time, not a missing one */
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":null}"), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_TIME);
	/* duplicate keys: the last one wins */
	assert_int_equal(extract("{\"event_id\":\"first\",\"event_id\":\"last\","
				 "\"timestamp\":1795132800000}"),
			 TARN_OK);
	assert_int_equal(ev.id_len, 4);
	assert_memory_equal(ev.id, "last", 4);
	/* an integer id above INT64_MAX keeps its digits */
	assert_int_equal(extract("{\"event_id\":18446744073709551615,\"timestamp\":1795132800000}"),
			 TARN_OK);
	assert_int_equal(ev.id_len, 20);
	assert_memory_equal(ev.id, "18446744073709551615", 20);
	/* one above the 64-bit range keeps its digits too: two such ids never
	 * become one (json-c clamped both to 18446744073709551615) */
	assert_int_equal(
		extract("{\"event_id\":99999999999999999999999,\"timestamp\":1795132800000}"),
		TARN_OK);
	assert_int_equal(ev.id_len, 23);
	assert_memory_equal(ev.id, "99999999999999999999999", 23);
	assert_int_equal(extract("{\"event_id\":-0,\"timestamp\":1795132800000}"), TARN_OK);
	assert_int_equal(ev.id_len, 1);
	assert_memory_equal(ev.id, "0", 1);
	/* an epoch-ms time beyond the 64-bit range is out of range, not wrapped */
	assert_int_equal(extract("{\"event_id\":\"a\",\"timestamp\":99999999999999999999999}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_TIME);
	/* a raw control character inside a string is not JSON (RFC 8259 section 7) */
	assert_int_equal(extract("{\"event_id\":\"a\tb\",\"timestamp\":1795132800000}"),
			 TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	/* an escaped NUL inside a string is JSON; a raw NUL byte is not */
	assert_int_equal(extract("{\"event_id\":\"a\\u0000b\",\"timestamp\":1795132800000}"),
			 TARN_OK);
	assert_int_equal(ev.id_len, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time__rfc3339_forms),
		cmocka_unit_test(time__rejects),
		cmocka_unit_test(time__epoch_ms_and_format),
		cmocka_unit_test(headers__append_get_next),
		cmocka_unit_test(event__producer_shape),
		cmocka_unit_test(event__rejects_with_reasons),
		cmocka_unit_test(event__hostile_inputs),
		cmocka_unit_test(event__headers_win_and_paths),
		cmocka_unit_test(event__parser_edges),
		cmocka_unit_test(event__escapes_on_and_off_the_paths),
		cmocka_unit_test(event__lookup_as_sqlite_reads),
		cmocka_unit_test(event__extract_with_paths),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
