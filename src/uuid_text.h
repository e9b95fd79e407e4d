/* Library-internal: the layout of a UUID's text form (RFC 4122 section 3:
 * 8-4-4-4-12 hex digits), shared by extraction (event.c: text to the 16
 * bytes) and the block's UUID elision (block.c: the 16 bytes checked
 * against text in a payload). */
#ifndef TARN_UUID_TEXT_H
#define TARN_UUID_TEXT_H

#define TARN__UUID_TEXT 36 /* characters of the text form */

/* Where the two hex digits of each of the 16 bytes start, in order. */
extern const unsigned char tarn__uuid_digit_at[16];

/* 1 when the 36 characters at s have their four dashes where the form
 * puts them (after 8, 12, 16 and 20 digits). */
static inline int tarn__uuid_dashes(const char *s)
{
	return s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-';
}

#endif
