/* libFuzzer target over the message ingest path that parses untrusted
 * bytes: header block, extraction of id/time/name/dimensions from JSON,
 * time parsing, id formatting. Input: first byte = header block length n,
 * then n bytes of header block, then the payload.  (make fuzz) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tarn/tarn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tarn_event ev;
	tarn_reject why;
	tarn_header h;
	char detail[256], id[4 * TARN_ID_MAX + 1], date[11], ts[28];
	size_t n, pos = 0;
	int64_t us;

	if (size == 0)
		return 0;
	n = data[0];
	if (n > size - 1)
		n = size - 1;
	tarn_event_init(&ev);
	ev.headers = n ? data + 1 : NULL;
	ev.headers_len = n;
	ev.payload = data + 1 + n;
	ev.payload_len = size - 1 - n;
	ev.kafka_ts_us = 1795132800000000LL;
	ev.kafka_ts_is_create = size & 1;
	while (tarn_headers_next(ev.headers, ev.headers_len, &pos, &h) == TARN_OK)
		;
	if (tarn_event_extract(&ev, NULL, &why, detail, sizeof(detail)) == TARN_OK) {
		/* what extraction accepts, the shard store can name and place */
		if (tarn_event_id_format(ev.id, ev.id_len, ev.id_is_uuid, id, sizeof(id)) !=
			    TARN_OK ||
		    tarn_time_date(ev.time_us, date) != TARN_OK ||
		    tarn_time_format(ev.time_us, ts) != TARN_OK || ev.id_len == 0 ||
		    strlen(ev.name) > TARN_NAME_MAX)
			__builtin_trap();
	} else if (why == TARN_REJECT_NONE || strlen(detail) >= sizeof(detail)) {
		__builtin_trap();
	}
	tarn_time_parse((const char *)ev.payload, ev.payload_len, &us);
	tarn_event_dimensions(&ev, NULL);
	return 0;
}
