/* tarn/event.h - one event and the extraction of its id, time and name.
 *
 * An event is one Kafka message or one line of a JSON-lines file. The
 * caller fills the raw part (payload, key, headers, provenance) and calls
 * tarn_event_extract(), which takes id, time, name and the gold dimensions
 * from headers and payload, the first source that exists (README.md,
 * "Events"):
 *
 *   id:   header `event_id`; payload field `event_id` (option id_field)
 *   time: header `published_at`; payload `timestamp` or `published_at`
 *         (option time_field), RFC 3339 or epoch ms; the Kafka CreateTime
 *   name: header `event_name`; payload `event_name` or `event_type`
 *         (option name_field)
 *
 * Payload JSON is streamed once through yajl's parser (RFC 8259: strict
 * grammar, UTF-8 checked, nesting at most 512). Field paths are dotted
 * ("a.b.c") and walk nested objects, never arrays; a key repeated in one
 * object: the last wins, with everything under it.
 */
#ifndef TARN_EVENT_H
#define TARN_EVENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TARN_ID_MAX		 255	       /* bytes of a non-UUID event id */
#define TARN_NAME_MAX		 255	       /* bytes of an event name */
#define TARN_DIM_MAX		 255	       /* bytes of a gold dimension (user_id, page...) */
#define TARN_PAYLOAD_MAX_DEFAULT (1024 * 1024) /* bytes */

/* Why an input cannot be stored; it then goes to the quarantine. */
typedef enum tarn_reject {
	TARN_REJECT_NONE = 0,
	TARN_REJECT_NOT_JSON,	/* payload is not valid JSON (RFC 8259) */
	TARN_REJECT_NOT_OBJECT, /* payload is JSON but not an object */
	TARN_REJECT_NO_ID,	/* no event id in headers or payload */
	TARN_REJECT_BAD_ID,	/* id empty, longer than 255 bytes, or not a string */
	TARN_REJECT_NO_TIME,	/* no usable time anywhere (no CreateTime either) */
	TARN_REJECT_BAD_TIME,	/* time present but not RFC 3339/epoch ms, or out of range */
	TARN_REJECT_BAD_NAME,	/* name not a string, or longer than 255 bytes */
	TARN_REJECT_OVERSIZED,	/* payload longer than max_payload_bytes */
	TARN_REJECT_CONFLICTING_DUPLICATE, /* id already stored with another payload */
	TARN_REJECT_EXPIRED		   /* event date before the lake's retention horizon */
} tarn_reject;

/* One event. Fixed-size fields are filled by tarn_event_extract(); the
 * pointers are borrowed from the caller and must outlive the calls that
 * take the event (nothing keeps them afterwards). */
typedef struct tarn_event {
	/* identity, filled by extraction */
	unsigned char id[TARN_ID_MAX]; /* 16 bytes when id_is_uuid, else the id's bytes */
	size_t id_len;		       /* 16 for a UUID, 1..255 otherwise */
	int id_is_uuid;		       /* 1 when the id was an RFC 4122 UUID in text form */
	size_t id_text_at;	       /* a hint: the byte offset in payload where the
					* UUID's 36-byte text was read, SIZE_MAX when
					* unknown; readers check it before use */
	int64_t time_us;	       /* event time, microseconds since the epoch, UTC */
	char name[TARN_NAME_MAX + 1];  /* NUL-terminated event name, valid when has_name */
	int has_name;

	/* gold dimensions: the fields the built-in gold tables group and count
	 * by (README.md, "Gold tables"); "" and has_x == 0 when
	 * absent, not a string/number, or longer than TARN_DIM_MAX bytes */
	char user_id[TARN_DIM_MAX + 1];
	char event_type[TARN_DIM_MAX + 1];
	char page[TARN_DIM_MAX + 1];
	char source[TARN_DIM_MAX + 1];
	int has_user_id, has_event_type, has_page, has_source;

	/* raw input, set by the caller, borrowed */
	const void *payload;	/* exact message value / line bytes (without the newline) */
	size_t payload_len;	/* bytes */
	const void *key;	/* Kafka message key, NULL when none */
	size_t key_len;		/* bytes */
	const void *headers;	/* header block (tarn/headers.h), NULL when none */
	size_t headers_len;	/* bytes */
	const char *topic;	/* source topic, or file name for JSON lines; may be NULL */
	int32_t partition;	/* Kafka partition, -1 when not from Kafka */
	int64_t offset;		/* Kafka offset, or line number (1-based) for files */
	int64_t kafka_ts_us;	/* Kafka message timestamp in microseconds, -1 when none */
	int kafka_ts_is_create; /* 1 when kafka_ts_us is a CreateTime */
	int64_t ingest_us;	/* when tarn received it, microseconds since the epoch */
} tarn_event;

/* Field paths used by extraction. NULL means "the default list". */
typedef struct tarn_extract_options {
	const char *id_field;	  /* default "event_id" */
	const char *time_field;	  /* default "timestamp", then "published_at" */
	const char *name_field;	  /* default "event_name", then "event_type" */
	const char *user_field;	  /* default "user_id" */
	const char *type_field;	  /* default "event_type" */
	const char *page_field;	  /* default "page" */
	const char *source_field; /* default "source" */
	size_t max_payload_bytes; /* default TARN_PAYLOAD_MAX_DEFAULT */
} tarn_extract_options;

#define TARN_EXTRACT_OPTIONS_INIT                                                                  \
	{                                                                                          \
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, TARN_PAYLOAD_MAX_DEFAULT                 \
	}

/* Reset every field of ev to "empty": no id (id_len 0), no name and no
 * dimensions ("" and has_x 0), time_us 0, no raw input, partition -1,
 * offset -1, kafka_ts_us -1, ingest_us 0. The bytes of id, name and the
 * dimensions past their first are left as they were. ev must not be NULL. */
void tarn_event_init(tarn_event *ev);

/* Extract id, time, name and gold dimensions of an event.
 *
 * ev: in: payload, headers, kafka_ts_us (and the rest of the raw part);
 *     out: id, id_len, id_is_uuid, time_us, name, has_name, dimensions.
 * opts: field paths; NULL means TARN_EXTRACT_OPTIONS_INIT.
 * reject: receives TARN_REJECT_NONE on success or the reason otherwise.
 * detail, detail_len: caller's buffer for a one-line human reason
 *   ("time '2026-13-01' is not RFC 3339"); may be NULL.
 * An id of the textual RFC 4122 form (8-4-4-4-12 hex digits, any case) is
 * stored as its 16 bytes (id_is_uuid = 1); any other string, or a JSON
 * integer written as decimal text (canonical within the 64-bit range, "-0"
 * is "0"; the digits as written beyond it), is stored as its bytes (1..255).
 * A header value that fails to parse as id/time is a reject (it is not
 * silently replaced by the payload's value).
 * Returns TARN_OK when the event can be stored, TARN_EINVAL when *reject
 * says why not. Thread-safe (no shared state). */
int tarn_event_extract(tarn_event *ev, const tarn_extract_options *opts, tarn_reject *reject,
		       char *detail, size_t detail_len);

/* Only the event name, as tarn_event_extract takes it (header `event_name`;
 * payload `event_name` or `event_type`, or opts->name_field), without
 * needing an id or a time; used by the splitter to route messages.
 *
 * ev: in: headers and payload; out: name, has_name (0 when there is none).
 * The payload is parsed only when there is no `event_name` header; its
 * size is not limited here.
 * Returns TARN_OK (has_name says whether a name was found), or TARN_EINVAL
 * with *reject = TARN_REJECT_NOT_JSON, TARN_REJECT_NOT_OBJECT (no header
 * and a payload that cannot hold a name) or TARN_REJECT_BAD_NAME (a name
 * that is not a string of at most 255 bytes without NUL), and detail
 * filled as for tarn_event_extract. Thread-safe. */
int tarn_event_name(tarn_event *ev, const tarn_extract_options *opts, tarn_reject *reject,
		    char *detail, size_t detail_len);

/* Only the gold dimensions of a stored payload (user_id, event_type, page,
 * source), as tarn_event_extract fills them; used to recompute gold from
 * raw data. Missing or non-object JSON leaves every has_x at 0.
 * Returns TARN_OK always (a payload without dimensions is not an error). */
int tarn_event_dimensions(tarn_event *ev, const tarn_extract_options *opts);

/* The stable snake_case name of a reject reason ("not_json", "no_id", ...,
 * "conflicting_duplicate", "expired"); "none" for TARN_REJECT_NONE. Static
 * string. */
const char *tarn_reject_name(tarn_reject reason);

/* Format an event id for display: UUIDs as 36 lowercase characters
 * (RFC 4122 section 3, via libuuid), other ids as their bytes with
 * non-printable bytes escaped as \xHH.
 *
 * buf: caller's buffer; buf_len: its size in bytes (>= 37 for UUIDs;
 * 4*255+1 covers every id). Returns TARN_OK, or TARN_EINVAL when buf is too
 * small (buf then holds a truncated, NUL-terminated prefix). */
int tarn_event_id_format(const unsigned char *id, size_t id_len, int is_uuid, char *buf,
			 size_t buf_len);

#ifdef __cplusplus
}
#endif
#endif
