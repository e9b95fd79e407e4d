/* The Kafka adapter: librdkafka's mock cluster as an embedded broker, a
 * consumer-group member, and a producer with delivery reports. Nothing
 * here knows about SQLite; events travel as tarn_event raw parts. */
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "tarn/kafka.h"
#include "tarn/headers.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "kafka_internal.h"

/* librdkafka prints its log lines to stderr unless a log_cb is set; tarn
 * always sets one and hands the lines to the receiver the program
 * installed (tarn_kafka_log_set), or drops them. The mutex makes a change
 * of receiver and ctx one step, and lets tarn_kafka_log_set promise that
 * the old receiver is done when it returns. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static tarn_kafka_log_cb log_fn;
static void *log_ctx;

void tarn_kafka_log_set(tarn_kafka_log_cb cb, void *ctx)
{
	pthread_mutex_lock(&log_lock);
	log_fn = cb;
	log_ctx = ctx;
	pthread_mutex_unlock(&log_lock);
}

static void forward_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	pthread_mutex_lock(&log_lock);
	if (log_fn)
		log_fn(log_ctx, level, fac, buf);
	pthread_mutex_unlock(&log_lock);
}

/* Set one property; the value is never copied into a message (it may be
 * a secret such as sasl.password). */
static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char errstr[512];
	rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr));

	if (r == RD_KAFKA_CONF_OK)
		return TARN_OK;
	if (r == RD_KAFKA_CONF_UNKNOWN)
		return tarn__error_set(TARN_EINVAL, "unknown librdkafka property '%s'", key);
	return tarn__error_set(TARN_EINVAL,
			       "librdkafka property '%s': invalid value (value not shown)", key);
}

/* Apply "key=value" strings, as kcat's -X does. */
static int conf_apply(rd_kafka_conf_t *conf, const char *const *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');
		char key[256];
		size_t klen;
		int rc;

		if (!eq || eq == kv[i])
			return tarn__error_set(TARN_EINVAL, "-X '%.*s': expected key=value",
					       (int)(eq ? 0 : strcspn(kv[i], "=")), kv[i]);
		klen = (size_t)(eq - kv[i]);
		if (klen >= sizeof(key))
			return tarn__error_set(TARN_EINVAL, "-X key too long");
		memcpy(key, kv[i], klen);
		key[klen] = '\0';
		rc = conf_set(conf, key, eq + 1);
		if (rc)
			return rc;
	}
	return TARN_OK;
}

static rd_kafka_conf_t *base_conf(const char *brokers)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	rd_kafka_conf_set_log_cb(conf, forward_log);
	if (brokers && conf_set(conf, "bootstrap.servers", brokers) != TARN_OK) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

/* ---- embedded broker ---- */

struct tarn_broker {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	int default_partitions;
};

int tarn_broker_start(tarn_broker **out, int n_brokers, int default_partitions)
{
	char errstr[512];
	rd_kafka_conf_t *conf;
	tarn_broker *b;

	*out = NULL;
	if (n_brokers < 1)
		return tarn__error_set(TARN_EINVAL, "a broker needs at least 1 node");
	b = calloc(1, sizeof(*b));
	if (!b)
		return tarn__error_set(TARN_ENOMEM, "broker");
	b->default_partitions = default_partitions > 0 ? default_partitions : 4;
	conf = base_conf(NULL);
	b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!b->rk) {
		rd_kafka_conf_destroy(conf);
		free(b);
		return tarn__error_set(TARN_EKAFKA, "embedded broker: %s", errstr);
	}
	b->mc = rd_kafka_mock_cluster_new(b->rk, n_brokers);
	if (!b->mc) {
		rd_kafka_destroy(b->rk);
		free(b);
		return tarn__error_set(TARN_EKAFKA,
				       "embedded broker: mock cluster failed to start");
	}
	*out = b;
	return TARN_OK;
}

const char *tarn_broker_bootstrap(const tarn_broker *b)
{
	return rd_kafka_mock_cluster_bootstraps(b->mc);
}

int tarn_broker_topic(tarn_broker *b, const char *name, int partitions)
{
	rd_kafka_resp_err_t err;

	if (!name || !*name)
		return tarn__error_set(TARN_EINVAL, "topic name is empty");
	err = rd_kafka_mock_topic_create(b->mc, name,
					 partitions > 0 ? partitions : b->default_partitions, 1);
	if (err)
		return tarn__error_set(TARN_EKAFKA, "create topic %s: %s", name,
				       rd_kafka_err2str(err));
	return TARN_OK;
}

int tarn_broker_set_up(tarn_broker *b, int broker_id, int up)
{
	rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(b->mc, broker_id)
				     : rd_kafka_mock_broker_set_down(b->mc, broker_id);

	if (err)
		return tarn__error_set(TARN_EKAFKA, "broker %d: %s", broker_id,
				       rd_kafka_err2str(err));
	return TARN_OK;
}

int tarn_broker_inject_errors(tarn_broker *b, int api_key, int count, int kafka_error)
{
	rd_kafka_resp_err_t errs[1000];
	int i;

	if (count < 1 || count > 1000)
		return tarn__error_set(TARN_EINVAL, "inject 1..1000 errors");
	for (i = 0; i < count; i++)
		errs[i] = (rd_kafka_resp_err_t)kafka_error;
	rd_kafka_mock_push_request_errors_array(b->mc, (int16_t)api_key, (size_t)count, errs);
	return TARN_OK;
}

int tarn_broker_refuse_topic(tarn_broker *b, const char *name, int kafka_error)
{
	if (!name || !*name)
		return tarn__error_set(TARN_EINVAL, "topic name is empty");
	rd_kafka_mock_topic_set_error(b->mc, name, (rd_kafka_resp_err_t)kafka_error);
	return TARN_OK;
}

void tarn_broker_stop(tarn_broker *b)
{
	if (!b)
		return;
	rd_kafka_mock_cluster_destroy(b->mc);
	rd_kafka_destroy(b->rk);
	free(b);
}

/* ---- consumer ---- */

/* Waiting for a broker that went away (consumer and producer alike). */
struct broker_wait {
	char brokers[256];  /* bootstrap.servers, for messages */
	int64_t timeout_us; /* give up after this long without a broker */
	int64_t down_since; /* microseconds; 0: a broker answers */
	int64_t last_check; /* last metadata request while down */
	int suspect;	    /* a connection was lost: check at the next poll */
	char why[256];	    /* the error that said so */
	tarn_kafka_wait_cb cb;
	void *ctx;
};

static void wait_init(struct broker_wait *w, const char *brokers, int timeout_ms,
		      tarn_kafka_wait_cb cb, void *ctx)
{
	snprintf(w->brokers, sizeof(w->brokers), "%s", brokers);
	w->timeout_us = (int64_t)(timeout_ms > 0 ? timeout_ms : TARN_BROKER_TIMEOUT_MS) * 1000;
	w->cb = cb;
	w->ctx = ctx;
}

/* An error callback's error: all brokers down starts the wait. */
static void wait_error(struct broker_wait *w, int err, const char *reason)
{
	char msg[700];

	if (w->down_since)
		return;
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
		/* one connection lost: the next check asks whether any broker
		 * answers (librdkafka does not always say all are down) */
		w->suspect = 1;
		snprintf(w->why, sizeof(w->why), "%s", reason);
		return;
	}
	if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		return;
	w->down_since = tarn_time_now_us();
	w->last_check = w->down_since;
	snprintf(w->why, sizeof(w->why), "%s", reason);
	snprintf(msg, sizeof(msg),
		 "no Kafka broker answers (%s: %s); waiting, retrying, for up to %lld s",
		 w->brokers, w->why, (long long)(w->timeout_us / 1000000));
	if (w->cb)
		w->cb(w->ctx, msg);
}

/* A broker answered (a message, or a metadata request): the wait ends. */
static void wait_over(struct broker_wait *w)
{
	char msg[400];

	if (!w->down_since)
		return;
	snprintf(msg, sizeof(msg), "a Kafka broker answers again (%s) after %.1f s; resuming",
		 w->brokers, (double)(tarn_time_now_us() - w->down_since) / 1e6);
	w->down_since = 0;
	if (w->cb)
		w->cb(w->ctx, msg);
}

/* While waiting: a metadata request each second tells whether a broker is
 * back; TARN_EKAFKA once the wait is longer than its timeout. */
static int wait_check(struct broker_wait *w, rd_kafka_t *rk)
{
	const struct rd_kafka_metadata *md = NULL;
	int64_t now;

	if (!w->down_since && w->suspect) {
		w->suspect = 0;
		if (rd_kafka_metadata(rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_metadata_destroy(md);
			return TARN_OK;
		}
		char why[sizeof(w->why)];
		memcpy(why, w->why, sizeof(why));
		wait_error(w, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, why);
	}
	if (!w->down_since)
		return TARN_OK;
	now = tarn_time_now_us();
	if (now - w->last_check >= 1000000) {
		w->last_check = now;
		if (rd_kafka_metadata(rk, 0, NULL, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_metadata_destroy(md);
			wait_over(w);
			return TARN_OK;
		}
	}
	if (now - w->down_since > w->timeout_us)
		return tarn__error_set(TARN_EKAFKA,
				       "no Kafka broker answered for %lld s (%s: %s); giving up",
				       (long long)(w->timeout_us / 1000000), w->brokers, w->why);
	return TARN_OK;
}

struct tarn_consumer {
	rd_kafka_t *rk;
	rd_kafka_message_t *msg; /* the message handed out last, kept alive */
	unsigned char *hdr;	 /* its header block */
	size_t hdr_len, hdr_cap;
	int exit_at_end;
	int assigned_once;
	struct tarn__tp_map eof; /* per (topic, partition): 1 once read to the end */
	int holds_all;		 /* exit_at_end, eager: the last assignment was every
				    subscribed partition (metadata at the assignment) */
	int64_t others_next;	 /* exit_at_end: next look at the others' partitions (us) */
	int64_t others_since;	 /* since when others hold unread messages; 0: none */
	char last_error[512];
	struct broker_wait wait;
};

static void consumer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	tarn_consumer *c = opaque;

	(void)rk;
	snprintf(c->last_error, sizeof(c->last_error), "%s: %s",
		 rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
	wait_error(&c->wait, err, reason);
}

static void rebalance_error(tarn_consumer *c, const char *what, rd_kafka_error_t *e)
{
	if (!e)
		return;
	snprintf(c->last_error, sizeof(c->last_error), "%s: %s", what, rd_kafka_error_string(e));
	rd_kafka_error_destroy(e);
}

static rd_kafka_topic_partition_list_t *
others_of(tarn_consumer *c, const rd_kafka_topic_partition_list_t *mine, int timeout_ms);

/* A rebalance, with the group's protocol: eager assignors (range,
 * roundrobin) hand out and take back the whole assignment, cooperative
 * ones (cooperative-sticky) only the partitions that move
 * (rd_kafka_rebalance_cb_t in rdkafka.h, KIP-429). Before partitions go,
 * the offsets stored so far are committed: tarn stores an offset only once
 * the lake (or, for split, the broker) holds the batch, so the next owner
 * starts right after what this member made durable. What this member read
 * and has not made durable yet is read again by the next owner. */
static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	tarn_consumer *c = opaque;
	const char *proto = rd_kafka_rebalance_protocol(rk);
	int coop = proto && strcmp(proto, "COOPERATIVE") == 0;
	int i;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (i = 0; i < parts->cnt; i++) {
			int64_t *eof = tarn__tp_slot(&c->eof, parts->elems[i].topic,
						     parts->elems[i].partition);
			if (eof)
				*eof = 0; /* out of memory: counts as not at the end */
		}
		c->holds_all = 0;
		if (c->exit_at_end && !coop) {
			/* whether -e needs to look at other members at the end:
			 * asked now, before the fetchers start (a request waits
			 * behind a Fetch long poll on the same connection) */
			rd_kafka_topic_partition_list_t *o = others_of(c, parts, 2000);
			c->holds_all = o && o->cnt == 0;
			if (o)
				rd_kafka_topic_partition_list_destroy(o);
		}
		if (coop)
			rebalance_error(c, "assign", rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		c->assigned_once = 1;
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) {
		rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
		if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
			snprintf(c->last_error, sizeof(c->last_error), "commit on revoke: %s",
				 rd_kafka_err2str(cerr));
	}
	c->holds_all = 0;
	if (coop && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
		rebalance_error(c, "unassign", rd_kafka_incremental_unassign(rk, parts));
	else
		rd_kafka_assign(rk, NULL); /* eager revoke, or an error: start over */
}

int tarn_consumer_open(tarn_consumer **out, const tarn_consumer_options *opts)
{
	char errstr[512];
	rd_kafka_conf_t *conf;
	tarn_consumer *c;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t err;
	int rc;

	*out = NULL;
	if (!opts || !opts->brokers || !*opts->brokers || !opts->topic || !*opts->topic)
		return tarn__error_set(TARN_EINVAL, "consumer needs brokers and a topic");
	c = calloc(1, sizeof(*c));
	if (!c)
		return tarn__error_set(TARN_ENOMEM, "consumer");
	c->exit_at_end = opts->exit_at_end;
	conf = base_conf(opts->brokers);
	if (!conf) {
		free(c);
		return TARN_EINVAL;
	}
	rc = conf_set(conf, "group.id", opts->group ? opts->group : "tarn");
	if (!rc)
		rc = conf_set(conf, "enable.auto.commit", "false");
	if (!rc)
		rc = conf_set(conf, "enable.auto.offset.store", "false");
	if (!rc)
		rc = conf_set(conf, "auto.offset.reset", "earliest");
	if (!rc)
		rc = conf_set(conf, "enable.partition.eof", opts->exit_at_end ? "true" : "false");
	/* librdkafka 2.0.2 stops fetching once the consumer's queue holds
	 * queued.min.messages (100,000) or queued.max.messages.kbytes (64 MB),
	 * and looks again only 1 s later (fetch.queue.backoff.ms, settable
	 * from 2.2 on): reading a backlog, tarn drained 100,000 in ~0.3 s and
	 * then idled, at ~115,000 msg/s. With a higher count, only the 64 MB
	 * bound stops the fetcher, about once per second of backlog. The
	 * queue costs RSS (~3 MB per queued MB: fetch buffers and an op per
	 * message); -X queued.max.messages.kbytes=16384 bounds it on a small
	 * box, at the price of more 1 s pauses. */
	if (!rc)
		rc = conf_set(conf, "queued.min.messages", "1000000");
	if (!rc)
		rc = conf_apply(conf, opts->conf, opts->n_conf);
	if (!rc) {
		/* the rules that make "no event lost" true cannot be overridden */
		rc = conf_set(conf, "enable.auto.commit", "false");
		if (!rc)
			rc = conf_set(conf, "enable.auto.offset.store", "false");
	}
	if (rc) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return rc;
	}
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_error_cb(conf, consumer_error);
	wait_init(&c->wait, opts->brokers, opts->broker_timeout_ms, opts->on_wait,
		  opts->on_wait_ctx);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance);
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!c->rk) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return tarn__error_set(TARN_EKAFKA, "consumer: %s", errstr);
	}
	rd_kafka_poll_set_consumer(c->rk);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, opts->topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(c->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err) {
		tarn_consumer_close(c);
		return tarn__error_set(TARN_EKAFKA, "subscribe %s: %s", opts->topic,
				       rd_kafka_err2str(err));
	}
	*out = c;
	return TARN_OK;
}

static int mark_eof(tarn_consumer *c, const rd_kafka_message_t *m, int at_end)
{
	int64_t *eof;

	if (m->partition < 0)
		return TARN_OK;
	eof = tarn__tp_slot(&c->eof, rd_kafka_topic_name(m->rkt), m->partition);
	if (!eof)
		return TARN_ENOMEM;
	*eof = at_end;
	return TARN_OK;
}

/* A topic name the subscription names: equal to an entry, or matched by
 * an entry starting with '^' (POSIX extended regex; librdkafka's own
 * dialect agrees on the patterns users write). Kafka's internal topics
 * ("__consumer_offsets") count only when named. */
static int subscribed(const rd_kafka_topic_partition_list_t *sub, const char *topic)
{
	int i, hit = 0;

	for (i = 0; !hit && i < sub->cnt; i++) {
		regex_t re;

		if (sub->elems[i].topic[0] != '^') {
			hit = strcmp(sub->elems[i].topic, topic) == 0;
			continue;
		}
		if (strncmp(topic, "__", 2) == 0 ||
		    regcomp(&re, sub->elems[i].topic, REG_EXTENDED | REG_NOSUB) != 0)
			continue;
		hit = regexec(&re, topic, 0, NULL, 0) == 0;
		regfree(&re);
	}
	return hit;
}

static int assigned_has(const rd_kafka_topic_partition_list_t *a, const char *topic, int32_t part)
{
	int i;

	for (i = 0; i < a->cnt; i++)
		if (a->elems[i].partition == part && strcmp(a->elems[i].topic, topic) == 0)
			return 1;
	return 0;
}

/* The subscribed partitions (from a metadata request: all topics for a
 * regex subscription, else the known ones) that `mine` does not hold; NULL
 * when the broker did not answer in timeout_ms. */
static rd_kafka_topic_partition_list_t *
others_of(tarn_consumer *c, const rd_kafka_topic_partition_list_t *mine, int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *sub = NULL, *others;
	int i, j, any_regex = 0;

	if (rd_kafka_subscription(c->rk, &sub) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	for (i = 0; i < sub->cnt; i++)
		any_regex |= sub->elems[i].topic[0] == '^';
	if (rd_kafka_metadata(c->rk, any_regex, NULL, &md, timeout_ms) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_topic_partition_list_destroy(sub);
		return NULL;
	}
	others = rd_kafka_topic_partition_list_new(8);
	for (i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];

		if (t->err || !subscribed(sub, t->topic))
			continue;
		for (j = 0; j < t->partition_cnt; j++)
			if (!assigned_has(mine, t->topic, t->partitions[j].id))
				rd_kafka_topic_partition_list_add(others, t->topic,
								  t->partitions[j].id);
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_partition_list_destroy(sub);
	return others;
}

/* How many of the subscribed partitions this member does not hold the
 * group has not committed up to their end (committed offset, or the log
 * start when none, below the high watermark): messages another member
 * holds and has not made durable. -1 when the broker did not say. */
static int others_unread(tarn_consumer *c, const rd_kafka_topic_partition_list_t *mine, char *which,
			 size_t size)
{
	rd_kafka_topic_partition_list_t *others = others_of(c, mine, 5000);
	int i, unread = 0;
	size_t len = 0;

	if (!others)
		return -1;
	if (others->cnt > 0 &&
	    rd_kafka_committed(c->rk, others, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		unread = -1;
	which[0] = '\0';
	for (i = 0; unread >= 0 && i < others->cnt; i++) {
		rd_kafka_topic_partition_t *p = &others->elems[i];
		int64_t lo = 0, hi = 0;

		if (rd_kafka_query_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi,
						     5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			unread = -1;
			break;
		}
		if ((p->offset >= 0 ? p->offset : lo) >= hi)
			continue;
		unread++;
		if (len + 1 < size)
			len += (size_t)snprintf(
				which + len, size - len, "%s%s [%d] (%lld left)",
				unread > 1 ? ", " : "", p->topic, (int)p->partition,
				(long long)(hi - (p->offset >= 0 ? p->offset : lo)));
	}
	rd_kafka_topic_partition_list_destroy(others);
	return unread;
}

/* How long -e waits for partitions that other members hold: twice the
 * group's session.timeout.ms (a member that died holds its partitions
 * until then, and a rebalance follows), plus 5 s. */
static int64_t others_wait_us(tarn_consumer *c)
{
	char v[32];
	size_t n = sizeof(v);
	long ms = 45000; /* librdkafka's default */

	if (rd_kafka_conf_get(rd_kafka_conf(c->rk), "session.timeout.ms", v, &n) ==
	    RD_KAFKA_CONF_OK)
		ms = atol(v);
	return ((int64_t)ms * 2 + 5000) * 1000;
}

/* -e: every assigned partition has reported its end (kcat -e), and the
 * subscribed partitions other members hold are committed to their end.
 * When a member dies, the group keeps its partitions until its session
 * times out; a member that stopped at its own end then would leave their
 * unread messages to a later run, with exit 0. So the rest of the group
 * is checked (every 500 ms): while another member holds unread messages,
 * this one waits for them to be committed or handed over by a rebalance,
 * for up to others_wait_us, then stops and says which it left
 * (through on_wait). */
static int all_at_end(tarn_consumer *c)
{
	rd_kafka_topic_partition_list_t *a = NULL;
	char which[400], msg[700];
	int i, done, unread;
	int64_t now;

	if (!c->assigned_once || rd_kafka_assignment(c->rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	done = a->cnt > 0;
	for (i = 0; done && i < a->cnt; i++)
		done = tarn__tp_get(&c->eof, a->elems[i].topic, a->elems[i].partition) == 1;
	now = tarn_time_now_us();
	if (done && c->holds_all) {
		rd_kafka_topic_partition_list_destroy(a);
		return 1; /* no other member holds a subscribed partition */
	}
	if (!done || now < c->others_next) {
		rd_kafka_topic_partition_list_destroy(a);
		return 0;
	}
	c->others_next = now + 500000;
	unread = others_unread(c, a, which, sizeof(which));
	rd_kafka_topic_partition_list_destroy(a);
	if (unread == 0)
		return 1;
	if (!c->others_since) {
		c->others_since = now;
		return 0;
	}
	if (now - c->others_since < others_wait_us(c))
		return 0;
	snprintf(msg, sizeof(msg),
		 unread > 0 ? "stopping at the end of this member's partitions; other members "
			      "of the group hold unread messages: %s"
			    : "stopping at the end of this member's partitions; the broker did "
			      "not say whether other members hold unread messages%s",
		 which);
	if (c->wait.cb)
		c->wait.cb(c->wait.ctx, msg);
	return 1;
}

static int fill_event(tarn_consumer *c, rd_kafka_message_t *m, tarn_event *ev)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_timestamp_type_t tstype;
	int64_t ts;

	ev->payload = m->payload ? m->payload : "";
	ev->payload_len = m->len;
	ev->key = m->key;
	ev->key_len = m->key_len;
	ev->topic = rd_kafka_topic_name(m->rkt);
	ev->partition = m->partition;
	ev->offset = m->offset;
	ts = rd_kafka_message_timestamp(m, &tstype);
	if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0) {
		ev->kafka_ts_us = ts * 1000;
		ev->kafka_ts_is_create = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME;
	}
	ev->ingest_us = tarn_time_now_us();
	c->hdr_len = 0;
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		const char *name;
		const void *value;
		size_t size, i;
		int rc;

		for (i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR;
		     i++) {
			rc = tarn_headers_append(&c->hdr, &c->hdr_len, &c->hdr_cap, name,
						 strlen(name), value, value ? size : 0);
			if (rc)
				return rc;
		}
		ev->headers = c->hdr;
		ev->headers_len = c->hdr_len;
	}
	return TARN_OK;
}

int tarn_consumer_poll(tarn_consumer *c, int timeout_ms, tarn_event *ev)
{
	rd_kafka_message_t *m;
	int rc;

	if (c->msg) {
		rd_kafka_message_destroy(c->msg);
		c->msg = NULL;
	}
	tarn_event_init(ev);
	m = rd_kafka_consumer_poll(c->rk, timeout_ms);
	if (!m) {
		rc = wait_check(&c->wait, c->rk);
		if (rc)
			return rc;
		if (c->exit_at_end && all_at_end(c))
			return TARN_ENOTFOUND;
		return TARN_EINVAL;
	}
	if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && m->err) {
		rc = wait_check(&c->wait, c->rk);
		if (rc) {
			rd_kafka_message_destroy(m);
			return rc;
		}
	} else {
		wait_over(&c->wait);
	}
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		rc = mark_eof(c, m, 1);
		rd_kafka_message_destroy(m);
		if (rc)
			return rc;
		if (c->exit_at_end && all_at_end(c))
			return TARN_ENOTFOUND;
		return TARN_EINVAL;
	}
	if (m->err) {
		char msg[512];
		int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL ||
			    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
			    m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED;
		int missing = m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			      m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
		char topic[256];

		snprintf(msg, sizeof(msg), "%s", rd_kafka_message_errstr(m));
		snprintf(topic, sizeof(topic), "%s", m->rkt ? rd_kafka_topic_name(m->rkt) : "");
		rd_kafka_message_destroy(m);
		/* a named topic that the broker does not have: waiting would
		 * wait for ever, silently (a consumer does not create topics:
		 * allow.auto.create.topics=false) */
		if (missing)
			return tarn__error_set(TARN_EKAFKA,
					       "topic %s does not exist on %s (%s); create it, or"
					       " produce to it first",
					       topic[0] ? topic : "(subscribed)", c->wait.brokers,
					       msg);
		if (fatal)
			return tarn__error_set(TARN_EKAFKA, "consumer: %s", msg);
		snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
		return TARN_EINVAL; /* transient: the caller polls again */
	}
	rc = mark_eof(c, m, 0);
	if (!rc)
		rc = fill_event(c, m, ev);
	c->msg = m;
	return rc;
}

int tarn_consumer_store(tarn_consumer *c, const char *topic, int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t err;

	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset + 1;
	err = rd_kafka_offsets_store(c->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err)
		return tarn__error_set(TARN_EKAFKA, "store offset %s [%d] %lld: %s", topic,
				       partition, (long long)offset, rd_kafka_err2str(err));
	return TARN_OK;
}

int tarn_consumer_commit(tarn_consumer *c)
{
	rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);

	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		return tarn__error_set(TARN_EKAFKA, "commit offsets: %s", rd_kafka_err2str(err));
	return TARN_OK;
}

void tarn_consumer_close(tarn_consumer *c)
{
	if (!c)
		return;
	if (c->msg)
		rd_kafka_message_destroy(c->msg);
	if (c->rk) {
		rd_kafka_consumer_close(c->rk);
		rd_kafka_destroy(c->rk);
	}
	free(c->hdr);
	tarn__tp_free(&c->eof);
	free(c);
}

/* ---- (topic, partition) table, and a batch's offsets ---- */

static int tp_is(const struct tarn__tp *e, const char *topic, int32_t partition)
{
	return e->partition == partition && strcmp(e->topic, topic) == 0;
}

static struct tarn__tp *tp_find(struct tarn__tp_map *m, const char *topic, int32_t partition)
{
	size_t i;

	if (m->last < m->n && tp_is(&m->e[m->last], topic, partition))
		return &m->e[m->last];
	for (i = 0; i < m->n; i++) {
		if (tp_is(&m->e[i], topic, partition)) {
			m->last = i;
			return &m->e[i];
		}
	}
	return NULL;
}

int64_t *tarn__tp_slot(struct tarn__tp_map *m, const char *topic, int32_t partition)
{
	struct tarn__tp *e;

	if (!topic)
		topic = "";
	e = tp_find(m, topic, partition);
	if (e)
		return &e->value;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct tarn__tp *grown = realloc(m->e, cap * sizeof(*grown));
		if (!grown) {
			tarn__error_set(TARN_ENOMEM, "offsets");
			return NULL;
		}
		m->e = grown;
		m->cap = cap;
	}
	e = &m->e[m->n];
	e->topic = strdup(topic);
	if (!e->topic) {
		tarn__error_set(TARN_ENOMEM, "offsets");
		return NULL;
	}
	e->partition = partition;
	e->value = -1;
	m->last = m->n++;
	return &e->value;
}

int64_t tarn__tp_get(struct tarn__tp_map *m, const char *topic, int32_t partition)
{
	const struct tarn__tp *e = tp_find(m, topic ? topic : "", partition);

	return e ? e->value : -1;
}

void tarn__tp_free(struct tarn__tp_map *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->e[i].topic);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

int tarn__offsets_note(struct tarn__offsets *o, const tarn_event *ev)
{
	int64_t *max;

	if (ev->partition < 0)
		return TARN_OK;
	max = tarn__tp_slot(&o->max, ev->topic, ev->partition);
	if (!max)
		return TARN_ENOMEM;
	if (ev->offset > *max)
		*max = ev->offset;
	return TARN_OK;
}

/* One partition's result of rd_kafka_offsets_store. _STATE: the partition
 * is no longer assigned (librdkafka >= 1.9 refuses to store it, so that a
 * stale offset cannot overwrite its next owner's commits). */
static void note_stored(struct tarn__offsets *o, rd_kafka_resp_err_t err, uint64_t *errors)
{
	if (!err)
		o->pending = 1;
	else if (err != RD_KAFKA_RESP_ERR__STATE)
		(*errors)++;
}

void tarn__offsets_commit(struct tarn__offsets *o, tarn_consumer *c, uint64_t *errors)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	size_t i;
	int k;

	for (i = 0; i < o->max.n; i++) {
		struct tarn__tp *e = &o->max.e[i];

		if (e->value < 0)
			continue;
		if (!l)
			l = rd_kafka_topic_partition_list_new((int)(o->max.n - i));
		rd_kafka_topic_partition_list_add(l, e->topic, e->partition)->offset = e->value + 1;
		e->value = -1;
	}
	if (l) {
		/* per-partition results come in .err whatever the return value */
		if (rd_kafka_offsets_store(c->rk, l) == RD_KAFKA_RESP_ERR__INVALID_ARG)
			(*errors)++;
		else
			for (k = 0; k < l->cnt; k++)
				note_stored(o, l->elems[k].err, errors);
		rd_kafka_topic_partition_list_destroy(l);
	}
	if (!o->pending)
		return;
	if (tarn_consumer_commit(c) == TARN_OK)
		o->pending = 0;
	else
		(*errors)++;
}

void tarn__offsets_free(struct tarn__offsets *o)
{
	tarn__tp_free(&o->max);
	o->pending = 0;
}

/* ---- producer ---- */

struct tarn_producer {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	int transactional, in_txn;
	uint64_t sent, acked, failed;
	/* acknowledged messages by send number, from `prefix` on: bit i of
	 * word (i - base) / 64 is message base + i */
	uint64_t *acks;
	size_t n_words;
	uint64_t base, prefix;
	char first_error[256];
	struct broker_wait wait;
};

static void mark_acked(tarn_producer *p, uint64_t seq)
{
	uint64_t rel;

	if (seq < p->prefix)
		return;
	rel = seq - p->base;
	if (rel / 64 >= p->n_words) {
		size_t n = p->n_words ? p->n_words * 2 : 64;
		uint64_t *a;
		while (n <= rel / 64)
			n *= 2;
		a = realloc(p->acks, n * sizeof(*a));
		if (!a)
			return; /* the prefix stops growing; nothing is lost */
		memset(a + p->n_words, 0, (n - p->n_words) * sizeof(*a));
		p->acks = a;
		p->n_words = n;
	}
	p->acks[rel / 64] |= 1ull << (rel % 64);
	/* advance over acknowledged messages; drop whole words behind */
	while (p->prefix - p->base < (uint64_t)p->n_words * 64 &&
	       (p->acks[(p->prefix - p->base) / 64] >> ((p->prefix - p->base) % 64) & 1))
		p->prefix++;
	if (p->prefix - p->base >= 64 * 64) {
		size_t drop = (size_t)((p->prefix - p->base) / 64);
		memmove(p->acks, p->acks + drop, (p->n_words - drop) * sizeof(*p->acks));
		memset(p->acks + p->n_words - drop, 0, drop * sizeof(*p->acks));
		p->base += (uint64_t)drop * 64;
	}
}

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	tarn_producer *p = opaque;

	(void)rk;
	if (m->err) {
		if (p->failed++ == 0)
			snprintf(p->first_error, sizeof(p->first_error), "%s",
				 rd_kafka_err2str(m->err));
	} else {
		p->acked++;
		mark_acked(p, (uint64_t)(uintptr_t)m->_private);
		wait_over(&p->wait);
	}
}

static void producer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	tarn_producer *p = opaque;

	(void)rk;
	wait_error(&p->wait, err, reason);
}

uint64_t tarn_producer_acked_prefix(const tarn_producer *p)
{
	return p->prefix;
}

uint64_t tarn_producer_sent(const tarn_producer *p)
{
	return p->sent;
}

int tarn_producer_open(tarn_producer **out, const tarn_producer_options *opts)
{
	char errstr[512];
	rd_kafka_conf_t *conf;
	tarn_producer *p;
	int rc;

	*out = NULL;
	if (!opts || !opts->brokers || !*opts->brokers || (opts->topic && !*opts->topic))
		return tarn__error_set(TARN_EINVAL,
				       "producer needs brokers (and a non-empty topic)");
	p = calloc(1, sizeof(*p));
	if (!p)
		return tarn__error_set(TARN_ENOMEM, "producer");
	conf = base_conf(opts->brokers);
	if (!conf) {
		free(p);
		return TARN_EINVAL;
	}
	rc = conf_set(conf, "linger.ms", "5");
	if (!rc) {
		char ms[24];
		snprintf(ms, sizeof(ms), "%d",
			 opts->broker_timeout_ms > 0 ? opts->broker_timeout_ms : 30000);
		rc = conf_set(conf, "message.timeout.ms", ms);
	}
	if (!rc)
		rc = conf_set(conf, "queue.buffering.max.messages", "500000");
	if (!rc && opts->idempotent)
		rc = conf_set(conf, "enable.idempotence", "true");
	if (!rc && opts->unkeyed_spread)
		rc = conf_set(conf, "sticky.partitioning.linger.ms", "0");
	if (!rc && opts->transactional_id) {
		char ms[24];
		/* librdkafka wants message.timeout.ms <= transaction.timeout.ms */
		snprintf(ms, sizeof(ms), "%d",
			 opts->broker_timeout_ms > 60000 ? opts->broker_timeout_ms : 60000);
		rc = *opts->transactional_id
			     ? conf_set(conf, "transactional.id", opts->transactional_id)
			     : tarn__error_set(TARN_EINVAL, "an empty transactional id");
		if (!rc)
			rc = conf_set(conf, "transaction.timeout.ms", ms);
		p->transactional = 1;
	}
	if (!rc)
		rc = conf_apply(conf, opts->conf, opts->n_conf);
	if (rc) {
		rd_kafka_conf_destroy(conf);
		free(p);
		return rc;
	}
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	rd_kafka_conf_set_error_cb(conf, producer_error);
	wait_init(&p->wait, opts->brokers,
		  opts->broker_timeout_ms > 0 ? opts->broker_timeout_ms : 30000, opts->on_wait,
		  opts->on_wait_ctx);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!p->rk) {
		rd_kafka_conf_destroy(conf);
		free(p);
		return tarn__error_set(TARN_EKAFKA, "producer: %s", errstr);
	}
	if (!opts->topic) {
		*out = p;
		return TARN_OK;
	}
	p->rkt = rd_kafka_topic_new(p->rk, opts->topic, NULL);
	if (!p->rkt) {
		tarn_producer_close(p);
		return tarn__error_set(TARN_EKAFKA, "topic %s: %s", opts->topic,
				       rd_kafka_err2str(rd_kafka_last_error()));
	}
	*out = p;
	return TARN_OK;
}

static rd_kafka_headers_t *to_kafka_headers(const void *block, size_t len)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	tarn_header one;
	size_t pos = 0;

	while (tarn_headers_next(block, len, &pos, &one) == TARN_OK)
		rd_kafka_header_add(h, one.name, (ssize_t)one.name_len, one.value,
				    one.value ? (ssize_t)one.value_len : 0);
	return h;
}

int tarn_producer_send_to(tarn_producer *p, const char *topic, const void *value, size_t value_len,
			  const void *key, size_t key_len, const void *headers, size_t headers_len,
			  int64_t ts_us)
{
	rd_kafka_resp_err_t err;
	const char *name;

	if (!topic && !p->rkt)
		return tarn__error_set(TARN_EINVAL, "produce: no topic given");
	name = topic ? topic : rd_kafka_topic_name(p->rkt);
	for (;;) {
		rd_kafka_headers_t *h = headers_len ? to_kafka_headers(headers, headers_len) : NULL;
		/* RD_KAFKA_V_HEADERS(NULL) would be taken as "no headers" too,
		 * but ownership passes only on success: keep one call */
		err = rd_kafka_producev(
			p->rk, RD_KAFKA_V_TOPIC(name), RD_KAFKA_V_VALUE((void *)value, value_len),
			RD_KAFKA_V_KEY(key, key ? key_len : 0), RD_KAFKA_V_HEADERS(h),
			RD_KAFKA_V_TIMESTAMP(ts_us >= 0 ? ts_us / 1000 : 0),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_OPAQUE((void *)(uintptr_t)p->sent), RD_KAFKA_V_END);
		if (err && h)
			rd_kafka_headers_destroy(h); /* ownership passes only on success */
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(p->rk, 100);
	}
	if (err)
		return tarn__error_set(TARN_EKAFKA, "produce to %s: %s", name,
				       rd_kafka_err2str(err));
	p->sent++;
	return TARN_OK;
}

int tarn_producer_send(tarn_producer *p, const void *value, size_t value_len, const void *key,
		       size_t key_len, const void *headers, size_t headers_len, int64_t ts_us)
{
	return tarn_producer_send_to(p, NULL, value, value_len, key, key_len, headers, headers_len,
				     ts_us);
}

int tarn_producer_send_event(tarn_producer *p, const tarn_event *ev)
{
	return tarn_producer_send(p, ev->payload, ev->payload_len, ev->key, ev->key_len,
				  ev->headers, ev->headers_len,
				  ev->kafka_ts_us >= 0 ? ev->kafka_ts_us : ev->time_us);
}

void tarn_producer_poll(tarn_producer *p)
{
	rd_kafka_poll(p->rk, 0);
}

int tarn_producer_flush(tarn_producer *p, int timeout_ms, uint64_t *acked, uint64_t *failed)
{
	uint64_t missing;

	rd_kafka_flush(p->rk, timeout_ms);
	missing = p->sent - p->acked - p->failed;
	if (acked)
		*acked = p->acked;
	if (failed)
		*failed = p->failed + missing;
	if (p->failed + missing == 0)
		return TARN_OK;
	return tarn__error_set(TARN_EDELIVERY, "%llu of %llu messages to %s not acknowledged: %s",
			       (unsigned long long)(p->failed + missing),
			       (unsigned long long)p->sent,
			       p->rkt ? rd_kafka_topic_name(p->rkt) : "the topics",
			       p->failed ? p->first_error : "timed out waiting for delivery");
}

int tarn__producer_wait_acked(tarn_producer *p, uint64_t upto, int timeout_ms)
{
	int64_t until = tarn_time_now_us() + (int64_t)timeout_ms * 1000;

	rd_kafka_poll(p->rk, 0);
	while (p->prefix < upto && !p->failed && tarn_time_now_us() < until)
		rd_kafka_poll(p->rk, 10);
	if (p->prefix >= upto && !p->failed)
		return TARN_OK;
	/* a failure, or time out: what flush would say, without waiting on */
	return tarn_producer_flush(p, 0, NULL, NULL);
}

void tarn_producer_close(tarn_producer *p)
{
	if (!p)
		return;
	if (p->rkt)
		rd_kafka_topic_destroy(p->rkt);
	if (p->rk) {
		/* whatever was not delivered by now is given up, not waited for */
		rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(p->rk, 0);
		rd_kafka_destroy(p->rk);
	}
	free(p->acks);
	free(p);
}

int tarn_producer_is_transactional(const tarn_producer *p)
{
	return p && p->transactional;
}

/* ---- transactions ---- */

/* The error e (consumed) as tarn's: its text, and whether the producer can
 * go on (*abortable). */
static int txn_error(rd_kafka_error_t *e, const char *what, int *abortable)
{
	int rc;

	*abortable = rd_kafka_error_txn_requires_abort(e) ||
		     (rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e));
	rc = tarn__error_set(TARN_EKAFKA, "%s: %s%s", what, rd_kafka_error_string(e),
			     rd_kafka_error_is_fatal(e) ? " (fatal: fenced or refused)" : "");
	rd_kafka_error_destroy(e);
	return rc;
}

int tarn__txn_init(tarn_producer *p, int timeout_ms)
{
	rd_kafka_error_t *e = rd_kafka_init_transactions(p->rk, timeout_ms);
	int abortable;

	return e ? txn_error(e, "init_transactions", &abortable) : TARN_OK;
}

int tarn__txn_begin(tarn_producer *p)
{
	rd_kafka_error_t *e;
	int abortable;

	if (p->in_txn)
		return TARN_OK;
	e = rd_kafka_begin_transaction(p->rk);
	if (e)
		return txn_error(e, "begin_transaction", &abortable);
	p->in_txn = 1;
	return TARN_OK;
}

/* Seek every assigned partition of c back to the group's committed offset
 * (the beginning where there is none, as auto.offset.reset=earliest), and
 * forget which partitions -e saw to their end. */
static int rewind_to_committed(tarn_consumer *c, int timeout_ms)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t err;
	int i;

	err = rd_kafka_assignment(c->rk, &l);
	if (!err)
		err = rd_kafka_committed(c->rk, l, timeout_ms);
	if (!err) {
		for (i = 0; i < l->cnt; i++)
			if (l->elems[i].offset < 0)
				l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
		e = rd_kafka_seek_partitions(c->rk, l, timeout_ms);
	}
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	tarn__tp_free(&c->eof);
	if (e) {
		int rc = tarn__error_set(TARN_EKAFKA, "rewind: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return rc;
	}
	return err ? tarn__error_set(TARN_EKAFKA, "rewind: %s", rd_kafka_err2str(err)) : TARN_OK;
}

/* Abort the open transaction; the producer goes on. */
static int txn_abort(tarn_producer *p, int timeout_ms)
{
	rd_kafka_error_t *e;
	int abortable;

	if (!p->in_txn)
		return TARN_OK;
	e = rd_kafka_abort_transaction(p->rk, timeout_ms);
	p->in_txn = 0;
	return e ? txn_error(e, "abort_transaction", &abortable) : TARN_OK;
}

int tarn__txn_commit(tarn_producer *p, tarn_consumer *c, struct tarn__offsets *o, int timeout_ms)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)o->max.n + 1);
	rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(c->rk);
	rd_kafka_error_t *e = NULL;
	const char *what = "send_offsets_to_transaction";
	char msg[600];
	size_t i;
	int rc, abortable = 0;

	for (i = 0; i < o->max.n; i++) {
		struct tarn__tp *t = &o->max.e[i];
		if (t->value >= 0)
			rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset =
				t->value + 1;
		t->value = -1;
	}
	if (!md)
		e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__STATE, "no consumer group metadata");
	else if (l->cnt)
		e = rd_kafka_send_offsets_to_transaction(p->rk, l, md, timeout_ms);
	if (!e) {
		what = "commit_transaction";
		e = rd_kafka_commit_transaction(p->rk, timeout_ms);
	}
	rd_kafka_topic_partition_list_destroy(l);
	if (md)
		rd_kafka_consumer_group_metadata_destroy(md);
	if (!e) {
		p->in_txn = 0;
		return TARN_OK;
	}
	rc = txn_error(e, what, &abortable);
	if (!abortable) {
		p->in_txn = 0;
		return rc;
	}
	snprintf(msg, sizeof(msg), "%s", tarn_error_last());
	rc = txn_abort(p, timeout_ms);
	if (!rc)
		rc = rewind_to_committed(c, timeout_ms);
	if (rc)
		return rc;
	return tarn__error_set(TARN_EDELIVERY, "transaction aborted, batch read again: %s", msg);
}

void tarn__txn_abort(tarn_producer *p, int timeout_ms)
{
	txn_abort(p, timeout_ms);
}
