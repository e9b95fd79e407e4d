#include <stdlib.h>
#include <string.h>

#include "tarn/headers.h"
#include "error_internal.h"

static uint32_t read_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int tarn_headers_next(const void *block, size_t len, size_t *pos, tarn_header *out)
{
	const unsigned char *p = block;
	size_t at = *pos;
	size_t name_len;
	uint32_t raw;

	if (at >= len)
		return TARN_ENOTFOUND;
	if (len - at < 2)
		goto corrupt;
	name_len = (size_t)p[at] << 8 | p[at + 1];
	at += 2;
	if (len - at < name_len + 4)
		goto corrupt;
	out->name = (const char *)p + at;
	out->name_len = name_len;
	at += name_len;
	raw = read_be32(p + at);
	at += 4;
	if (raw == 0xffffffffu) {
		out->value = NULL;
		out->value_len = 0;
	} else {
		if (raw > 0x7fffffffu || len - at < raw)
			goto corrupt;
		out->value = p + at;
		out->value_len = raw;
		at += raw;
	}
	*pos = at;
	return TARN_OK;
corrupt:
	return tarn__error_set(TARN_ECORRUPT, "header block: length runs past the end at byte %zu",
			       at);
}

int tarn_headers_get(const void *block, size_t len, const char *name, tarn_header *out)
{
	size_t pos = 0, want = strlen(name);
	tarn_header h;
	int rc;

	while ((rc = tarn_headers_next(block, len, &pos, &h)) == TARN_OK) {
		if (h.name_len == want && memcmp(h.name, name, want) == 0) {
			*out = h;
			return TARN_OK;
		}
	}
	return rc;
}

int tarn_headers_append(unsigned char **buf, size_t *len, size_t *cap, const char *name,
			size_t name_len, const void *value, size_t value_len)
{
	size_t need;
	unsigned char *p;
	uint32_t raw;

	if (name_len > 0xffff || value_len > 0x7fffffff)
		return tarn__error_set(TARN_EINVAL, "header too long");
	need = *len + 2 + name_len + 4 + (value ? value_len : 0);
	if (need > *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		while (ncap < need)
			ncap *= 2;
		p = realloc(*buf, ncap);
		if (!p)
			return tarn__error_set(TARN_ENOMEM, "header block");
		*buf = p;
		*cap = ncap;
	}
	p = *buf + *len;
	*p++ = (unsigned char)(name_len >> 8);
	*p++ = (unsigned char)name_len;
	if (name_len)
		memcpy(p, name, name_len);
	p += name_len;
	raw = value ? (uint32_t)value_len : 0xffffffffu;
	*p++ = (unsigned char)(raw >> 24);
	*p++ = (unsigned char)(raw >> 16);
	*p++ = (unsigned char)(raw >> 8);
	*p++ = (unsigned char)raw;
	if (value && value_len)
		memcpy(p, value, value_len);
	*len = need;
	return TARN_OK;
}
