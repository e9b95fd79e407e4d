#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn replay --lake DIR (-b BROKERS -t TOPIC | -o FILE|-) [--since T]\n"
	"                   [--until T] [--name N]... [--rate N] [--broker-timeout S]\n"
	"                   [-X key=value]...\n"
	"Re-emits stored events in event-time order. To Kafka: the original key,\n"
	"headers and timestamp, idempotent producer; exit 0 only when the broker\n"
	"acknowledged every message. To a file: each payload, byte for byte, one per\n"
	"line. T is YYYY-MM-DD or RFC 3339; --since is inclusive, --until exclusive,\n"
	"except that a bare date for --until means the end of that day.\n"
	"--checkpoint NAME remembers (in LAKE/checkpoints.db) how far in replay order\n"
	"every message was acknowledged; a replay with the same NAME sends only what\n"
	"comes after it (store-and-forward). At least once: after a failure, messages\n"
	"acknowledged beyond the first unacknowledged one are sent again.\n"
	"Progress (events, events/s, bytes) goes to stderr when it is a terminal;\n"
	"--progress / --no-progress force it. --format json prints the summary as a\n"
	"JSON object on stdout (not with -o -) instead of the line on stderr.\n"
	"--broker-timeout S: while no Kafka broker answers, wait (saying so on stderr)\n"
	"and retry for up to S seconds (default 300), then exit 1 naming the brokers.\n";

/* In-flight window of a checkpointed replay: the positions of the last
 * RING sends are kept, and sending waits while more than WINDOW are
 * unacknowledged, so the acknowledged prefix always ends inside the ring. */
#define RING	   16384
#define WINDOW	   10000
#define SAVE_EVERY 10000

struct replay_ctx {
	tarn_producer *p;
	FILE *f;
	double rate;
	int64_t t0;
	uint64_t n, bytes;
	struct cli_progress prog;
	/* --checkpoint */
	const char *dir, *checkpoint;
	tarn_replay_position *ring; /* position of send number i at ring[i % RING] */
	uint64_t saved;		    /* prefix length stored last */
	int save_failed;
};

/* Store the checkpoint at the end of the acknowledged prefix. */
static void save_checkpoint(struct replay_ctx *r)
{
	uint64_t prefix = r->p ? tarn_producer_acked_prefix(r->p) : r->n;

	if (!r->checkpoint || prefix <= r->saved)
		return;
	if (r->f && fflush(r->f) != 0)
		return;
	if (tarn_replay_checkpoint_set(r->dir, r->checkpoint, &r->ring[(prefix - 1) % RING])) {
		if (!r->save_failed)
			fprintf(stderr, "tarn replay: checkpoint %s: %s\n", r->checkpoint,
				tarn_error_last());
		r->save_failed = 1;
		return;
	}
	r->saved = prefix;
}

static void wait_for_window(struct replay_ctx *r)
{
	struct timespec ms = { 0, 1000000 };

	while (r->p && tarn_producer_sent(r->p) - tarn_producer_acked_prefix(r->p) > WINDOW &&
	       !cli_stop) {
		tarn_producer_poll(r->p);
		nanosleep(&ms, NULL);
	}
}

static int emit(void *ctx, const tarn_event *ev)
{
	struct replay_ctx *r = ctx;
	int rc;

	if (cli_stop)
		return TARN_EINVAL;
	cli_pace(r->t0, r->n, r->rate);
	if (r->checkpoint) {
		wait_for_window(r);
		tarn_replay_position_of(ev, &r->ring[r->n % RING]);
	}
	r->n++;
	r->bytes += ev->payload_len;
	cli_progress_update(&r->prog, r->n, r->bytes);
	if (r->f) {
		if (fwrite(ev->payload, 1, ev->payload_len, r->f) != ev->payload_len ||
		    fputc('\n', r->f) == EOF)
			return TARN_EIO;
	} else {
		rc = tarn_producer_send_event(r->p, ev);
		if (rc)
			return rc;
		if (r->n % 1000 == 0)
			tarn_producer_poll(r->p);
	}
	if (r->checkpoint && r->n % SAVE_EVERY == 0)
		save_checkpoint(r);
	return 0;
}

static int parse_until(const char *s, int64_t *out)
{
	if (strlen(s) == 10) {
		if (tarn_time_parse_date(s, out))
			return -1;
		*out += TARN_US_PER_DAY;
		return 0;
	}
	return tarn_time_parse_bound(s, out) ? -1 : 0;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "since", required_argument, NULL, 's' },
					      { "until", required_argument, NULL, 'u' },
					      { "name", required_argument, NULL, 'n' },
					      { "rate", required_argument, NULL, 'r' },
					      { "checkpoint", required_argument, NULL, 'c' },
					      { "progress", no_argument, NULL, 'p' },
					      { "no-progress", no_argument, NULL, 'P' },
					      { "format", required_argument, NULL, 'f' },
					      { "broker-timeout", required_argument, NULL, 'W' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	tarn_replay_options ro = TARN_REPLAY_OPTIONS_INIT;
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	struct replay_ctx r;
	tarn_replay_position after;
	struct cli_conf conf = { { 0 }, 0 };
	const char *names[64];
	const char *dir = NULL, *out = NULL;
	uint64_t acked = 0, failed = 0;
	tarn_lake *lake;
	int opt, rc, frc = 0, progress_mode = -1, json = 0, broker_ms = 0;

	memset(&r, 0, sizeof(r));

	while ((opt = getopt_long(argc, argv, "b:t:o:X:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': dir = optarg; break;
		case 'b': po.brokers = optarg; break;
		case 't': po.topic = optarg; break;
		case 'o': out = optarg; break;
		case 's':
			if (tarn_time_parse_bound(optarg, &ro.since_us))
				return cli_usage("replay", "--since wants YYYY-MM-DD or RFC 3339");
			break;
		case 'u':
			if (parse_until(optarg, &ro.until_us))
				return cli_usage("replay", "--until wants YYYY-MM-DD or RFC 3339");
			break;
		case 'n':
			if (ro.n_names == 64)
				return cli_usage("replay", "at most 64 --name");
			names[ro.n_names++] = optarg;
			break;
		case 'r':
			if (cli_double(optarg, 0.001, 1e9, &r.rate))
				return cli_usage("replay", "--rate wants events per second > 0");
			break;
		case 'W':
			if (cli_broker_timeout("replay", optarg, &broker_ms))
				return EXIT_USAGE;
			break;
		case 'X':
			if (cli_conf_add(&conf, "replay", optarg))
				return EXIT_USAGE;
			break;
		case 'c':
			if (!*optarg)
				return cli_usage("replay", "--checkpoint wants a name");
			r.checkpoint = optarg;
			break;
		case 'p': progress_mode = 1; break;
		case 'P': progress_mode = 0; break;
		case 'f':
			if (cli_text_or_json("replay", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("replay", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage("replay", "unexpected argument '%s'", argv[optind]);
	if (!dir)
		return cli_usage("replay", "--lake DIR is required");
	if (!out == !(po.brokers || po.topic) || (!out && (!po.brokers || !po.topic)))
		return cli_usage("replay", "give either -b BROKERS -t TOPIC or -o FILE");
	if (json && out && strcmp(out, "-") == 0)
		return cli_usage("replay", "--format json needs stdout: write events with -o FILE");
	ro.names = names;
	rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);
	if (rc)
		return cli_fail("replay", dir, rc);
	if (r.checkpoint) {
		r.dir = dir;
		r.ring = malloc(RING * sizeof(*r.ring));
		rc = r.ring ? tarn_replay_checkpoint_get(dir, r.checkpoint, &after) : TARN_ENOMEM;
		if (rc == TARN_OK)
			ro.after = &after;
		else if (rc != TARN_ENOTFOUND) {
			free(r.ring);
			tarn_lake_close(lake);
			return cli_fail("replay", "checkpoint", rc);
		}
	}
	if (out) {
		r.f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
		if (!r.f) {
			tarn_lake_close(lake);
			fprintf(stderr, "tarn replay: %s: cannot open for writing\n", out);
			return 1;
		}
	} else {
		po.conf = conf.kv;
		po.n_conf = conf.n;
		/* a message waits this long for a broker that went away */
		po.broker_timeout_ms = broker_ms ? broker_ms : TARN_BROKER_TIMEOUT_MS;
		po.on_wait = cli_kafka_wait;
		po.on_wait_ctx = (void *)"replay";
		rc = tarn_producer_open(&r.p, &po);
		if (rc) {
			tarn_lake_close(lake);
			return cli_fail("replay", "producer", rc);
		}
	}
	cli_catch_signals();
	cli_progress_init(&r.prog, "replay", progress_mode, 0);
	r.t0 = tarn_time_now_us();
	rc = tarn_replay_scan(lake, &ro, emit, &r, NULL);
	tarn_lake_close(lake);
	if (r.p) {
		/* every queued message is waited for, even after a failure */
		frc = tarn_producer_flush(r.p, po.broker_timeout_ms + 10000, &acked, &failed);
		if (frc)
			cli_fail("replay", po.topic, frc);
		save_checkpoint(&r);
		tarn_producer_close(r.p);
	} else {
		if (!rc)
			save_checkpoint(&r);
		if (r.f != stdout ? fclose(r.f) != 0 : fflush(r.f) != 0)
			rc = rc ? rc : TARN_EIO;
	}
	free(r.ring);
	if (r.checkpoint && r.save_failed)
		rc = rc ? rc : TARN_EIO;
	if (rc && !cli_stop)
		cli_fail("replay", "read", rc);
	cli_progress_done(&r.prog);
	if (json) {
		json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:f,s:b,s:b}", "events", (json_int_t)r.n,
				      "bytes", (json_int_t)r.bytes, "acknowledged",
				      (json_int_t)(r.p ? acked : r.n), "failed", (json_int_t)failed,
				      "seconds", (double)(tarn_time_now_us() - r.t0) / 1e6,
				      "interrupted", cli_stop != 0, "ok", !(rc || frc || cli_stop));

		if (j) {
			cli_json_print(j);
		}
	} else if (r.p)
		fprintf(stderr, "tarn replay: %llu events read, %llu acknowledged, %llu failed%s\n",
			(unsigned long long)r.n, (unsigned long long)acked,
			(unsigned long long)failed, cli_stop ? " (interrupted)" : "");
	else
		fprintf(stderr, "tarn replay: %llu events written to %s%s\n",
			(unsigned long long)r.n, out, cli_stop ? " (interrupted)" : "");
	return (rc || frc || cli_stop) ? 1 : 0;
}
