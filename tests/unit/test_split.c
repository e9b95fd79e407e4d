/* Unit tests of the events splitter: topic names, the dead-letter header
 * block, name extraction, and a run against the embedded broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tarn/tarn.h"

static void split__topic_names_follow_kafka_rules(void **state)
{
	char long_name[251];

	(void)state;
	assert_true(tarn_split_topic_is_legal("events.click"));
	assert_true(tarn_split_topic_is_legal("a-b_C.9"));
	assert_true(tarn_split_topic_is_legal("..."));
	assert_false(tarn_split_topic_is_legal(""));
	assert_false(tarn_split_topic_is_legal("."));
	assert_false(tarn_split_topic_is_legal(".."));
	assert_false(tarn_split_topic_is_legal("a b"));
	assert_false(tarn_split_topic_is_legal("a/b"));
	assert_false(tarn_split_topic_is_legal("caf\xc3\xa9"));
	memset(long_name, 'a', 250);
	long_name[250] = '\0';
	assert_false(tarn_split_topic_is_legal(long_name));
	long_name[249] = '\0';
	assert_true(tarn_split_topic_is_legal(long_name));
}

static void split__template_replaces_every_name(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(tarn_split_topic("events.{name}", "click", out, sizeof(out)), TARN_OK);
	assert_string_equal(out, "events.click");
	assert_int_equal(tarn_split_topic("{name}-{name}", "x", out, sizeof(out)), TARN_OK);
	assert_string_equal(out, "x-x");
	assert_int_equal(
		tarn_split_topic("events.{name}", "0123456789012345678901234", out, sizeof(out)),
		TARN_EINVAL);
}

static void split__dlq_headers_append_source(void **state)
{
	unsigned char *own = NULL, *buf = NULL;
	size_t ol = 0, oc = 0, len = 0, cap = 0, pos;
	tarn_header h;
	tarn_event ev;

	(void)state;
	tarn_headers_append(&own, &ol, &oc, "trace", 5, "t1", 2);
	tarn_headers_append(&own, &ol, &oc, "null", 4, NULL, 0);
	tarn_event_init(&ev);
	ev.headers = own;
	ev.headers_len = ol;
	ev.topic = "central";
	ev.partition = 3;
	ev.offset = 1234567890123LL;
	assert_int_equal(tarn_dlq_headers(&buf, &len, &cap, &ev, "no_name"), TARN_OK);
	/* the message's own headers come first, byte for byte */
	assert_true(len > ol);
	assert_memory_equal(buf, own, ol);
	pos = ol;
	assert_int_equal(tarn_headers_next(buf, len, &pos, &h), TARN_OK);
	assert_int_equal(h.name_len, strlen(TARN_DLQ_REASON));
	assert_memory_equal(h.value, "no_name", 7);
	assert_int_equal(tarn_headers_get(buf, len, TARN_DLQ_SOURCE_TOPIC, &h), TARN_OK);
	assert_memory_equal(h.value, "central", 7);
	assert_int_equal(tarn_headers_get(buf, len, TARN_DLQ_SOURCE_PARTITION, &h), TARN_OK);
	assert_int_equal(h.value_len, 1);
	assert_memory_equal(h.value, "3", 1);
	assert_int_equal(tarn_headers_get(buf, len, TARN_DLQ_SOURCE_OFFSET, &h), TARN_OK);
	assert_int_equal(h.value_len, 13);
	assert_memory_equal(h.value, "1234567890123", 13);
	/* reuse resets the block */
	ev.headers_len = 0;
	assert_int_equal(tarn_dlq_headers(&buf, &len, &cap, &ev, "x"), TARN_OK);
	pos = 0;
	assert_int_equal(tarn_headers_next(buf, len, &pos, &h), TARN_OK);
	assert_int_equal(h.name_len, strlen(TARN_DLQ_REASON));
	free(own);
	free(buf);
}

static void split__event_name_without_id_or_time(void **state)
{
	unsigned char *hb = NULL;
	size_t hl = 0, hc = 0;
	tarn_extract_options o = TARN_EXTRACT_OPTIONS_INIT;
	tarn_reject why;
	tarn_event ev;

	(void)state;
	tarn_event_init(&ev);
	ev.payload = "{\"event_type\":\"click\"}";
	ev.payload_len = strlen(ev.payload);
	assert_int_equal(tarn_event_name(&ev, NULL, &why, NULL, 0), TARN_OK);
	assert_true(ev.has_name);
	assert_string_equal(ev.name, "click");
	/* the header wins and the payload is not parsed */
	tarn_headers_append(&hb, &hl, &hc, "event_name", 10, "login", 5);
	ev.headers = hb;
	ev.headers_len = hl;
	ev.payload = "not json";
	ev.payload_len = 8;
	assert_int_equal(tarn_event_name(&ev, NULL, &why, NULL, 0), TARN_OK);
	assert_string_equal(ev.name, "login");
	ev.headers_len = 0;
	assert_int_equal(tarn_event_name(&ev, NULL, &why, NULL, 0), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_NOT_JSON);
	ev.payload = "{\"user_id\":\"u\"}";
	ev.payload_len = strlen(ev.payload);
	assert_int_equal(tarn_event_name(&ev, NULL, &why, NULL, 0), TARN_OK);
	assert_false(ev.has_name);
	ev.payload = "{\"kind\":{\"n\":\"deep\"}}";
	ev.payload_len = strlen(ev.payload);
	o.name_field = "kind.n";
	assert_int_equal(tarn_event_name(&ev, &o, &why, NULL, 0), TARN_OK);
	assert_string_equal(ev.name, "deep");
	ev.payload = "{\"event_name\":7}";
	ev.payload_len = strlen(ev.payload);
	assert_int_equal(tarn_event_name(&ev, NULL, &why, NULL, 0), TARN_EINVAL);
	assert_int_equal(why, TARN_REJECT_BAD_NAME);
	free(hb);
}

/* Read a whole topic with a fresh group; returns the count. */
static int count_topic(tarn_broker *b, const char *topic, const char *group)
{
	static const char *quick[] = { "session.timeout.ms=6000", "heartbeat.interval.ms=1000" };
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_consumer *c;
	tarn_event ev;
	int n = 0, rc;

	co.brokers = tarn_broker_bootstrap(b);
	co.topic = topic;
	co.group = group;
	co.exit_at_end = 1;
	co.conf = quick;
	co.n_conf = 2;
	assert_int_equal(tarn_consumer_open(&c, &co), TARN_OK);
	while ((rc = tarn_consumer_poll(c, 100, &ev)) != TARN_ENOTFOUND) {
		assert_true(rc == TARN_OK || rc == TARN_EINVAL);
		if (rc == TARN_OK)
			n++;
	}
	tarn_consumer_close(c);
	return n;
}

static void split__run_routes_and_dead_letters(void **state)
{
	static const char *quick[] = { "session.timeout.ms=6000", "heartbeat.interval.ms=1000" };
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_split_options so = TARN_SPLIT_OPTIONS_INIT;
	tarn_split_counts k = { 0 };
	tarn_broker *b;
	tarn_producer *p;
	tarn_consumer *c;
	int i;

	(void)state;
	assert_int_equal(tarn_broker_start(&b, 1, 2), TARN_OK);
	assert_int_equal(tarn_broker_topic(b, "in", 2), TARN_OK);
	po.brokers = co.brokers = tarn_broker_bootstrap(b);
	assert_int_equal(tarn_producer_open(&p, &po), TARN_OK);
	for (i = 0; i < 30; i++) {
		const char *v = i % 3 == 0   ? "{\"event_type\":\"a\"}"
				: i % 3 == 1 ? "{\"event_type\":\"b\"}"
					     : "{\"event_type\":\"bad name\"}";
		assert_int_equal(tarn_producer_send_to(p, "in", v, strlen(v), NULL, 0, NULL, 0, -1),
				 TARN_OK);
	}
	assert_int_equal(tarn_producer_flush(p, 20000, NULL, NULL), TARN_OK);
	co.topic = "in";
	co.group = "s";
	co.exit_at_end = 1;
	co.conf = quick;
	co.n_conf = 2;
	assert_int_equal(tarn_consumer_open(&c, &co), TARN_OK);
	so.dlq = "in.dlq";
	assert_int_equal(tarn_split_run(c, p, &so, &k), TARN_OK);
	assert_int_equal(k.read, 30);
	assert_int_equal(k.routed, 20);
	assert_int_equal(k.dead_lettered, 10);
	tarn_consumer_close(c);
	/* offsets were committed: the group has nothing more */
	assert_int_equal(tarn_consumer_open(&c, &co), TARN_OK);
	memset(&k, 0, sizeof(k));
	assert_int_equal(tarn_split_run(c, p, &so, &k), TARN_OK);
	assert_int_equal(k.read, 0);
	/* a template without {name} and a missing dead-letter topic */
	so.to = "events";
	assert_int_equal(tarn_split_run(c, p, &so, &k), TARN_EINVAL);
	so.to = "events.{name}";
	so.dlq = NULL;
	assert_int_equal(tarn_split_run(c, p, &so, &k), TARN_EINVAL);
	tarn_consumer_close(c);
	tarn_producer_close(p);
	assert_int_equal(count_topic(b, "events.a", "r1"), 10);
	assert_int_equal(count_topic(b, "events.b", "r2"), 10);
	assert_int_equal(count_topic(b, "in.dlq", "r3"), 10);
	tarn_broker_stop(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(split__topic_names_follow_kafka_rules),
		cmocka_unit_test(split__template_replaces_every_name),
		cmocka_unit_test(split__dlq_headers_append_source),
		cmocka_unit_test(split__event_name_without_id_or_time),
		cmocka_unit_test(split__run_routes_and_dead_letters),
	};

	return cmocka_run_group_tests_name("split", tests, NULL, NULL);
}
