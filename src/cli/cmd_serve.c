/* tarn serve: a read-only live dashboard over HTTP (libmicrohttpd). Every
 * page is generated in memory from the lake (dashboard.c); no path reaches
 * the file system. GET and HEAD only; request sizes are bounded. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "cli.h"

static const char help[] =
	"usage: tarn serve --lake DIR [--listen HOST:PORT] [--refresh S] [--threads N]\n"
	"                  [--max-seconds N] [--format text|json]\n"
	"Serves, read-only, a live dashboard of the lake at http://HOST:PORT/ (default\n"
	"127.0.0.1:8080; port 0 picks a free one), its tables as JSON under /api/, and\n"
	"its counters in the Prometheus text format at /metrics. Every declared\n"
	"aggregate (tarn aggregate) gets a chart per measure, /api/aggregates/NAME and\n"
	"its rows and last update in /metrics. Prints the address as\n"
	"the first line on stdout. The page refreshes itself every S seconds (default\n"
	"5). Runs until SIGINT/SIGTERM, or for N seconds with --max-seconds. GET and\n"
	"HEAD only (405 otherwise); 4xx for bad requests. When the lake cannot be\n"
	"read the client gets 500 or 503 and a short reason; the detail goes to stderr,\n"
	"one line per request. When it stops, a summary of the requests answered goes\n"
	"to stderr (--format json: as JSON on stdout).\n";

/* Bounds on what a client may send: headers and URL share the per
 * connection memory; a GET body is read and discarded up to MAX_BODY. */
#define CONN_MEMORY	(32 * 1024)
#define MAX_URL		512
#define MAX_BODY	(64 * 1024)
#define MAX_CONNECTIONS 256
#define CONN_TIMEOUT_S	15

struct server {
	const char *dir;
	int refresh_s;
	struct serve_counters counts;
};

/* per request: bytes of body seen on a GET */
struct req {
	size_t body;
};

static void count(struct server *s, int status)
{
	if (status < 400)
		atomic_fetch_add(&s->counts.ok, 1);
	else if (status < 500)
		atomic_fetch_add(&s->counts.client_err, 1);
	else
		atomic_fetch_add(&s->counts.server_err, 1);
}

static enum MHD_Result reply(struct server *s, struct MHD_Connection *conn, int status, char *body,
			     size_t len, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(
		r, "Content-Security-Policy",
		"default-src 'none'; style-src 'unsafe-inline'; "
		"script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ok = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	count(s, status);
	return ok;
}

static enum MHD_Result reply_text(struct server *s, struct MHD_Connection *conn, int status,
				  const char *text)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return reply(s, conn, status, body, strlen(body), "text/plain; charset=utf-8");
}

/* text for one log line: control bytes (a decoded URL may hold a newline
 * or a terminal escape) become '?' */
static void log_text(char *out, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
}

/* The server's log, one line on stderr per request the lake failed: the
 * time, the request, the answer, and the detail the client did not get.
 * One fprintf, so lines of the worker threads do not mix. */
static void log_failure(const char *method, const char *url, int status,
			const struct dash_reply *out)
{
	char now[28], target[MAX_URL + 1], detail[sizeof(out->detail)];

	if (tarn_time_format(tarn_time_now_us(), now) != TARN_OK)
		snprintf(now, sizeof(now), "-");
	log_text(target, sizeof(target), url);
	log_text(detail, sizeof(detail), out->detail);
	fprintf(stderr, "%s tarn serve: %s %s: %d %s: %s\n", now, method, target, status,
		out->reason, detail);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *s = cls;
	struct req *rq = *con_cls;
	struct dash_reply out;
	int status;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (!rq) {
		const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_CONTENT_LENGTH);

		/* refused before any of the body is read */
		if ((clen && strcmp(clen, "0") != 0) ||
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_TRANSFER_ENCODING))
			return reply_text(s, conn, MHD_HTTP_BAD_REQUEST, "a GET takes no body\n");
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES; /* the next call brings a chunked body, if any */
	}
	if (*upload_data_size) {
		rq->body += *upload_data_size;
		*upload_data_size = 0;
		if (rq->body > MAX_BODY)
			return MHD_NO; /* a chunked body without end: close the connection */
		return MHD_YES;
	}
	if (rq->body)
		return reply_text(s, conn, MHD_HTTP_BAD_REQUEST, "a GET takes no body\n");
	if (!url || url[0] != '/')
		return reply_text(s, conn, MHD_HTTP_BAD_REQUEST, "bad request target\n");
	if (strlen(url) > MAX_URL)
		return reply_text(s, conn, MHD_HTTP_URI_TOO_LONG, "URL too long\n");
	status = dash_render(s->dir, url, s->refresh_s, &s->counts, &out);
	if (status < 0)
		return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	if (out.reason)
		log_failure(method, url, status, &out);
	return reply(s, conn, status, out.body, out.len, out.type);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)conn;
	(void)why;
	free(*con_cls);
	*con_cls = NULL;
}

/* HOST:PORT with a numeric IPv4 host, [IPv6]:PORT, or localhost:PORT. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	uint64_t port;
	size_t hl;

	if (!colon || cli_u64(colon + 1, 0, 65535, &port))
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
	}
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "listen", required_argument, NULL, 'l' },
					      { "refresh", required_argument, NULL, 'r' },
					      { "threads", required_argument, NULL, 'T' },
					      { "max-seconds", required_argument, NULL, 'm' },
					      { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *listen = "127.0.0.1:8080";
	struct server s;
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	uint64_t refresh = 5, threads = 4, max_s = 0;
	char host[64];
	socklen_t sl;
	int64_t t0;
	int opt, json = 0;

	memset(&s, 0, sizeof(s));
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': s.dir = optarg; break;
		case 'l': listen = optarg; break;
		case 'r':
			if (cli_u64(optarg, 1, 3600, &refresh))
				return cli_usage("serve", "--refresh wants seconds, 1..3600");
			break;
		case 'T':
			if (cli_u64(optarg, 1, 64, &threads))
				return cli_usage("serve", "--threads wants 1..64");
			break;
		case 'm':
			if (cli_u64(optarg, 0, 31536000, &max_s))
				return cli_usage(
					"serve",
					"--max-seconds wants 0..31536000 (0: until a signal)");
			break;
		case 'f':
			if (cli_text_or_json("serve", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("serve", "bad option");
		}
	}
	if (!s.dir)
		return cli_usage("serve", "--lake DIR is required");
	if (optind < argc)
		return cli_usage("serve", "unexpected argument '%s'", argv[optind]);
	if (parse_listen(listen, &ss, &sl))
		return cli_usage(
			"serve",
			"--listen wants HOST:PORT with a numeric address, e.g. 127.0.0.1:8080");
	s.refresh_s = (int)refresh;
	(void)sl;
	cli_catch_signals();
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
				     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
			     0, NULL, NULL, on_request, &s, MHD_OPTION_SOCK_ADDR,
			     (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
			     (unsigned int)threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			     (size_t)CONN_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
			     (unsigned int)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned int)CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
			     on_completed, NULL,
			     /* malformed requests (no Host in HTTP/1.1, bad header lines)
			      * get 400 instead of a best guess */
			     MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr,
			"tarn serve: cannot listen on %s (in use, or not an address of this "
			"host)\n",
			listen);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	printf(ss.ss_family == AF_INET6 ? "http://[%s]:%u/\n" : "http://%s:%u/\n", host,
	       info ? (unsigned)info->port : 0);
	fflush(stdout);
	t0 = tarn_time_now_us();
	while (!cli_stop && (!max_s || tarn_time_now_us() - t0 < (int64_t)max_s * 1000000)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(d);
	if (json)
		cli_json_print(json_pack("{s:I,s:I,s:I,s:f}", "answered_2xx_3xx",
					 (json_int_t)atomic_load(&s.counts.ok), "answered_4xx",
					 (json_int_t)atomic_load(&s.counts.client_err),
					 "answered_5xx",
					 (json_int_t)atomic_load(&s.counts.server_err), "seconds",
					 (double)(tarn_time_now_us() - t0) / 1e6));
	fprintf(stderr, "tarn serve: stopped; %llu requests answered 2xx/3xx, %llu 4xx, %llu 5xx\n",
		(unsigned long long)atomic_load(&s.counts.ok),
		(unsigned long long)atomic_load(&s.counts.client_err),
		(unsigned long long)atomic_load(&s.counts.server_err));
	return 0;
}
