/* Extraction: id, time, name and gold dimensions of an event, from Kafka
 * headers first and the JSON payload (json-c, strict RFC 8259) second. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <uuid/uuid.h>

#include "tarn/event.h"
#include "tarn/headers.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "event_internal.h"

void tarn_event_init(tarn_event *ev)
{
	memset(ev, 0, offsetof(tarn_event, payload));
	ev->payload = NULL;
	ev->payload_len = 0;
	ev->key = NULL;
	ev->key_len = 0;
	ev->headers = NULL;
	ev->headers_len = 0;
	ev->topic = NULL;
	ev->partition = -1;
	ev->offset = -1;
	ev->kafka_ts_us = -1;
	ev->kafka_ts_is_create = 0;
	ev->ingest_us = 0;
}

const char *tarn_reject_name(tarn_reject reason)
{
	switch (reason) {
	case TARN_REJECT_NONE: return "none";
	case TARN_REJECT_NOT_JSON: return "not_json";
	case TARN_REJECT_NOT_OBJECT: return "not_object";
	case TARN_REJECT_NO_ID: return "no_id";
	case TARN_REJECT_BAD_ID: return "bad_id";
	case TARN_REJECT_NO_TIME: return "no_time";
	case TARN_REJECT_BAD_TIME: return "bad_time";
	case TARN_REJECT_BAD_NAME: return "bad_name";
	case TARN_REJECT_OVERSIZED: return "oversized";
	case TARN_REJECT_CONFLICTING_DUPLICATE: return "conflicting_duplicate";
	case TARN_REJECT_EXPIRED: return "expired";
	}
	return "unknown";
}

/* Quote at most 40 bytes of untrusted text for a message, escaping
 * everything that is not printable ASCII. */
static void quote(char *out, size_t out_len, const char *s, size_t len)
{
	size_t o = 0, i;

	for (i = 0; i < len && i < 40 && o + 5 < out_len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", c);
	}
	if (i < len && o + 4 < out_len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < out_len ? o : out_len - 1] = '\0';
}

static int reject(tarn_reject *out, tarn_reject why, char *detail, size_t detail_len,
		  const char *fmt, const char *arg, size_t arg_len)
{
	char q[200] = "";
	const char *mark, *post;
	int pre;

	*out = why;
	if (arg)
		quote(q, sizeof(q), arg, arg_len);
	/* fmt holds one "%s" where the quoted argument goes */
	mark = strstr(fmt, "%s");
	pre = mark ? (int)(mark - fmt) : (int)strlen(fmt);
	post = mark ? mark + 2 : "";
	if (detail && detail_len)
		snprintf(detail, detail_len, "%.*s%s%s", pre, fmt, q, post);
	tarn__error_set(TARN_EINVAL, "%.*s%s%s", pre, fmt, q, post);
	return TARN_EINVAL;
}

typedef struct json_object jobj;

/* Deepest nesting accepted; deeper input is quarantined as not_json. */
#define JSON_DEPTH 512

/* Walk a dotted path ("a.b.c") through nested objects. Returns 1 when the
 * path exists (*out is NULL for a JSON null), 0 when it does not. */
static int lookup(jobj *root, const char *path, jobj **out)
{
	char key[256];
	const char *p = path;

	*out = NULL;
	while (root && json_object_is_type(root, json_type_object)) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n >= sizeof(key))
			return 0;
		memcpy(key, p, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(root, key, &root))
			return 0;
		if (!dot) {
			*out = root;
			return 1;
		}
		p = dot + 1;
	}
	return 0;
}

/* The first of a path or a list of default paths that exists. */
static int first_of(jobj *root, const char *path, const char *const *defaults, jobj **out)
{
	if (path)
		return lookup(root, path, out);
	for (; *defaults; defaults++)
		if (lookup(root, *defaults, out))
			return 1;
	return 0;
}

static int is_string(jobj *v)
{
	return v && json_object_is_type(v, json_type_string);
}

static int is_integer(jobj *v)
{
	return v && json_object_is_type(v, json_type_int);
}

/* An integer as decimal text (json-c keeps values above INT64_MAX as
 * unsigned). */
static int integer_text(jobj *v, char *buf, size_t len)
{
	int64_t i = json_object_get_int64(v);

	if (i == INT64_MAX)
		return snprintf(buf, len, "%" PRIu64, json_object_get_uint64(v));
	return snprintf(buf, len, "%" PRId64, i);
}

/* The RFC 4122 text form: 8-4-4-4-12 hex digits. */
static int is_uuid_text(const char *s, size_t len)
{
	size_t i;

	if (len != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					(c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return (c | 0x20) - 'a' + 10; /* is_uuid_text let only hex digits through */
}

static int set_id(tarn_event *ev, const char *s, size_t len)
{
	if (is_uuid_text(s, len)) {
		/* the 32 hex digits in order, dashes skipped: the 16 bytes of
		 * RFC 4122 section 3 (what uuid_parse gives, without its
		 * strtoul per byte, which was 5% of ingest) */
		size_t i, o = 0;

		for (i = 0; i < 36; i += 2) {
			if (s[i] == '-')
				i++;
			ev->id[o++] = (unsigned char)(hex_value(s[i]) << 4 | hex_value(s[i + 1]));
		}
		ev->id_len = 16;
		ev->id_is_uuid = 1;
		return 0;
	}
	if (len == 0 || len > TARN_ID_MAX)
		return -1;
	memcpy(ev->id, s, len);
	ev->id_len = len;
	ev->id_is_uuid = 0;
	return 0;
}

/* Copy a dimension: strings, and integers as decimal text. */
static void set_dim(jobj *v, char *dst, int *has)
{
	const char *s = NULL;
	char num[32];
	size_t len = 0;

	*has = 0;
	dst[0] = '\0';
	if (is_string(v)) {
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
	} else if (is_integer(v)) {
		len = (size_t)integer_text(v, num, sizeof(num));
		s = num;
	}
	if (!s || len > TARN_DIM_MAX || memchr(s, '\0', len))
		return;
	memcpy(dst, s, len);
	dst[len] = '\0';
	*has = 1;
}

static jobj *field(jobj *root, const char *path)
{
	jobj *v;

	lookup(root, path, &v);
	return v;
}

static void fill_dimensions(tarn_event *ev, jobj *root, const tarn_extract_options *o)
{
	set_dim(field(root, o->user_field ? o->user_field : "user_id"), ev->user_id,
		&ev->has_user_id);
	set_dim(field(root, o->type_field ? o->type_field : "event_type"), ev->event_type,
		&ev->has_event_type);
	set_dim(field(root, o->page_field ? o->page_field : "page"), ev->page, &ev->has_page);
	set_dim(field(root, o->source_field ? o->source_field : "source"), ev->source,
		&ev->has_source);
}

/* One tokener per thread, reused: creating one per event would allocate
 * its parse stack every time. */
static _Thread_local struct json_tokener *tls_tok;

void tarn__event_thread_done(void)
{
	if (!tls_tok)
		return; /* json_tokener_free does not accept NULL */
	json_tokener_free(tls_tok);
	tls_tok = NULL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parse the payload as one JSON text (RFC 8259): strict grammar, valid
 * UTF-8, nothing but white space after it. Returns 0 with *root set (NULL
 * for the literal null), or -1 with *err saying why. */
static int parse(const tarn_event *ev, jobj **root, const char **err)
{
	const char *p = ev->payload ? ev->payload : "";
	struct json_tokener *tok = tls_tok;
	enum json_tokener_error e;
	size_t end;

	*root = NULL;
	if (ev->payload_len > INT_MAX) {
		*err = "too long";
		return -1;
	}
	/* a raw NUL byte is never valid JSON, in a string or outside one */
	if (memchr(p, '\0', ev->payload_len)) {
		*err = "NUL byte";
		return -1;
	}
	if (!tok) {
		tok = json_tokener_new_ex(JSON_DEPTH);
		if (!tok) {
			*err = "out of memory";
			return -1;
		}
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		tls_tok = tok;
	}
	json_tokener_reset(tok);
	*root = json_tokener_parse_ex(tok, p, (int)ev->payload_len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (e == json_tokener_continue) {
		/* a bare number may go on; one more space ends it */
		*root = json_tokener_parse_ex(tok, " ", 1);
		e = json_tokener_get_error(tok);
		end = ev->payload_len;
	}
	if (e != json_tokener_success) {
		json_object_put(*root);
		*root = NULL;
		*err = e == json_tokener_continue ? "unexpected end of input"
						  : json_tokener_error_desc(e);
		return -1;
	}
	while (end < ev->payload_len && is_space(p[end]))
		end++;
	if (end != ev->payload_len) {
		json_object_put(*root);
		*root = NULL;
		*err = "text after the JSON value";
		return -1;
	}
	return 0;
}

int tarn_event_dimensions(tarn_event *ev, const tarn_extract_options *opts)
{
	tarn_extract_options defaults = TARN_EXTRACT_OPTIONS_INIT;
	const char *err;
	jobj *root;

	ev->has_user_id = ev->has_event_type = ev->has_page = ev->has_source = 0;
	if (parse(ev, &root, &err))
		return TARN_OK;
	if (root && json_object_is_type(root, json_type_object))
		fill_dimensions(ev, root, opts ? opts : &defaults);
	json_object_put(root);
	return TARN_OK;
}

static int take_id(tarn_event *ev, jobj *root, const tarn_extract_options *o,
		   tarn_reject *why, char *detail, size_t dl)
{
	static const char *const def[] = { "event_id", NULL };
	tarn_header h;
	jobj *v;

	if (tarn_headers_get(ev->headers, ev->headers_len, "event_id", &h) == TARN_OK) {
		if (!h.value || set_id(ev, h.value, h.value_len))
			return reject(why, TARN_REJECT_BAD_ID, detail, dl,
				      "header event_id '%s' is empty or longer than 255 bytes",
				      h.value, h.value_len);
		return TARN_OK;
	}
	if (!first_of(root, o->id_field, def, &v))
		return reject(why, TARN_REJECT_NO_ID, detail, dl,
			      "no event id (header event_id or payload field)%s", NULL, 0);
	if (is_integer(v)) {
		char num[32];
		int n = integer_text(v, num, sizeof(num));
		set_id(ev, num, (size_t)n);
		return TARN_OK;
	}
	if (!is_string(v))
		return reject(why, TARN_REJECT_BAD_ID, detail, dl,
			      "event id is not a string or integer%s", NULL, 0);
	if (set_id(ev, json_object_get_string(v), (size_t)json_object_get_string_len(v)))
		return reject(why, TARN_REJECT_BAD_ID, detail, dl,
			      "event id '%s' is empty or longer than 255 bytes",
			      json_object_get_string(v), (size_t)json_object_get_string_len(v));
	return TARN_OK;
}

static int take_time(tarn_event *ev, jobj *root, const tarn_extract_options *o,
		     tarn_reject *why, char *detail, size_t dl)
{
	static const char *const def[] = { "timestamp", "published_at", NULL };
	tarn_header h;
	jobj *v;
	int found;

	if (tarn_headers_get(ev->headers, ev->headers_len, "published_at", &h) == TARN_OK) {
		if (!h.value || tarn_time_parse(h.value, h.value_len, &ev->time_us))
			return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
				      "header published_at '%s' is not RFC 3339 or epoch ms",
				      h.value, h.value_len);
		return TARN_OK;
	}
	found = first_of(root, o->time_field, def, &v);
	if (is_string(v)) {
		const char *t = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);
		if (tarn_time_parse(t, len, &ev->time_us))
			return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
				      "time '%s' is not RFC 3339 or epoch ms in range", t, len);
		return TARN_OK;
	}
	if (is_integer(v)) {
		int64_t ms = json_object_get_int64(v);
		if (ms < TARN_TIME_MIN_US / 1000 || ms > TARN_TIME_MAX_US / 1000)
			return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
				      "epoch ms time is out of range%s", NULL, 0);
		ev->time_us = (int64_t)ms * 1000;
		return TARN_OK;
	}
	if (found)
		return reject(why, TARN_REJECT_BAD_TIME, detail, dl,
			      "time field is not a string or integer%s", NULL, 0);
	if (ev->kafka_ts_is_create && ev->kafka_ts_us >= TARN_TIME_MIN_US &&
	    ev->kafka_ts_us <= TARN_TIME_MAX_US) {
		ev->time_us = ev->kafka_ts_us;
		return TARN_OK;
	}
	return reject(why, TARN_REJECT_NO_TIME, detail, dl,
		      "no event time (header published_at, payload field, or Kafka CreateTime)%s",
		      NULL, 0);
}

static int set_name(tarn_event *ev, const char *s, size_t len)
{
	if (len > TARN_NAME_MAX || memchr(s, '\0', len))
		return -1;
	memcpy(ev->name, s, len);
	ev->name[len] = '\0';
	ev->has_name = 1;
	return 0;
}

static int take_name(tarn_event *ev, jobj *root, const tarn_extract_options *o,
		     tarn_reject *why, char *detail, size_t dl)
{
	static const char *const def[] = { "event_name", "event_type", NULL };
	tarn_header h;
	jobj *v;

	if (tarn_headers_get(ev->headers, ev->headers_len, "event_name", &h) == TARN_OK) {
		if (h.value && set_name(ev, h.value, h.value_len))
			return reject(why, TARN_REJECT_BAD_NAME, detail, dl,
				      "header event_name '%s' is longer than 255 bytes or has NUL",
				      h.value, h.value_len);
		return TARN_OK;
	}
	if (!first_of(root, o->name_field, def, &v) || !v)
		return TARN_OK;
	if (!is_string(v) || set_name(ev, json_object_get_string(v),
				      (size_t)json_object_get_string_len(v)))
		return reject(why, TARN_REJECT_BAD_NAME, detail, dl,
			      "event name is not a string of at most 255 bytes without NUL%s",
			      NULL, 0);
	return TARN_OK;
}

int tarn_event_extract(tarn_event *ev, const tarn_extract_options *opts,
		       tarn_reject *why, char *detail, size_t detail_len)
{
	tarn_extract_options defaults = TARN_EXTRACT_OPTIONS_INIT;
	size_t max = opts && opts->max_payload_bytes ? opts->max_payload_bytes
						     : TARN_PAYLOAD_MAX_DEFAULT;
	const char *err = "";
	jobj *root;
	int rc;

	if (!opts)
		opts = &defaults;
	ev->id_len = 0;
	ev->id_is_uuid = 0;
	ev->has_name = 0;
	ev->name[0] = '\0';
	ev->has_user_id = ev->has_event_type = ev->has_page = ev->has_source = 0;
	*why = TARN_REJECT_NONE;
	if (detail && detail_len)
		detail[0] = '\0';
	if (ev->payload_len > max) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%zu", ev->payload_len);
		return reject(why, TARN_REJECT_OVERSIZED, detail, detail_len,
			      "payload of %s bytes is over the limit", msg, strlen(msg));
	}
	if (parse(ev, &root, &err))
		return reject(why, TARN_REJECT_NOT_JSON, detail, detail_len,
			      "not JSON: %s", err, strlen(err));
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return reject(why, TARN_REJECT_NOT_OBJECT, detail, detail_len,
			      "JSON but not an object%s", NULL, 0);
	}
	rc = take_id(ev, root, opts, why, detail, detail_len);
	if (!rc)
		rc = take_time(ev, root, opts, why, detail, detail_len);
	if (!rc)
		rc = take_name(ev, root, opts, why, detail, detail_len);
	if (!rc)
		fill_dimensions(ev, root, opts);
	json_object_put(root);
	return rc;
}

int tarn_event_name(tarn_event *ev, const tarn_extract_options *opts,
		    tarn_reject *why, char *detail, size_t detail_len)
{
	tarn_extract_options defaults = TARN_EXTRACT_OPTIONS_INIT;
	const char *err = "";
	tarn_header h;
	jobj *root;
	int rc;

	if (!opts)
		opts = &defaults;
	ev->has_name = 0;
	ev->name[0] = '\0';
	*why = TARN_REJECT_NONE;
	if (detail && detail_len)
		detail[0] = '\0';
	/* the header alone decides: no JSON parse on the splitter's fast path */
	if (tarn_headers_get(ev->headers, ev->headers_len, "event_name", &h) == TARN_OK)
		return take_name(ev, NULL, opts, why, detail, detail_len);
	if (parse(ev, &root, &err))
		return reject(why, TARN_REJECT_NOT_JSON, detail, detail_len,
			      "not JSON: %s", err, strlen(err));
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return reject(why, TARN_REJECT_NOT_OBJECT, detail, detail_len,
			      "JSON but not an object%s", NULL, 0);
	}
	rc = take_name(ev, root, opts, why, detail, detail_len);
	json_object_put(root);
	return rc;
}

int tarn_event_id_format(const unsigned char *id, size_t id_len, int is_uuid,
			 char *buf, size_t buf_len)
{
	size_t o = 0, i;

	if (buf_len == 0)
		return tarn__error_set(TARN_EINVAL, "no room for the id");
	if (is_uuid && id_len == 16) {
		if (buf_len < 37) {
			buf[0] = '\0';
			return tarn__error_set(TARN_EINVAL, "no room for the id");
		}
		uuid_unparse_lower(id, buf);
		return TARN_OK;
	}
	for (i = 0; i < id_len; i++) {
		unsigned char c = id[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
		if (o + need + 1 > buf_len) {
			buf[o] = '\0';
			return tarn__error_set(TARN_EINVAL, "no room for the id");
		}
		if (need == 1)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, buf_len - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return TARN_OK;
}
