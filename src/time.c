/* Event times: RFC 3339 and epoch milliseconds; UTC calendar dates.
 * Calendar arithmetic is done by hand (proleptic Gregorian), so results do
 * not depend on the C library's time zone or time_t range. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tarn/time.h"
#include "error_internal.h"

/* Days from 1970-01-01 to y-m-d (H. Hinnant's civil-from-days algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 29;
	return days[m - 1];
}

/* Read exactly n decimal digits. */
static int digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
	int v = 0, i;

	if (len - *pos < (size_t)n)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[*pos + (size_t)i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*pos += (size_t)n;
	*out = v;
	return 0;
}

/* One of the characters of any (never NUL); a loop, not strchr: six a
 * time, once per event. */
static int expect(const char *s, size_t len, size_t *pos, const char *any)
{
	if (*pos >= len)
		return -1;
	for (; *any; any++) {
		if (s[*pos] == *any) {
			(*pos)++;
			return 0;
		}
	}
	return -1;
}

static int in_range(int64_t us)
{
	return us >= TARN_TIME_MIN_US && us <= TARN_TIME_MAX_US;
}

static int bad(const char *s, size_t len, const char *why)
{
	return tarn__error_set(TARN_EINVAL, "time '%.*s' %s", (int)(len > 40 ? 40 : len), s, why);
}

int tarn_time_parse_rfc3339(const char *s, size_t len, int64_t *out_us)
{
	int Y, M, D, h, mi, sec, oh = 0, om = 0, sign = 0, leap = 0;
	int64_t frac_us = 0, us;
	size_t pos = 0;

	if (digits(s, len, &pos, 4, &Y) || expect(s, len, &pos, "-") ||
	    digits(s, len, &pos, 2, &M) || expect(s, len, &pos, "-") ||
	    digits(s, len, &pos, 2, &D) || expect(s, len, &pos, "Tt ") ||
	    digits(s, len, &pos, 2, &h) || expect(s, len, &pos, ":") ||
	    digits(s, len, &pos, 2, &mi) || expect(s, len, &pos, ":") ||
	    digits(s, len, &pos, 2, &sec))
		return bad(s, len, "is not RFC 3339");
	if (pos < len && s[pos] == '.') {
		int64_t scale = 100000;
		pos++;
		if (pos >= len || s[pos] < '0' || s[pos] > '9')
			return bad(s, len, "is not RFC 3339 (empty fraction)");
		while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
			frac_us += (s[pos] - '0') * scale;
			scale /= 10;
			pos++;
		}
	}
	if (pos < len && (s[pos] == 'Z' || s[pos] == 'z')) {
		pos++;
	} else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
		sign = s[pos] == '-' ? -1 : 1;
		pos++;
		if (digits(s, len, &pos, 2, &oh) || expect(s, len, &pos, ":") ||
		    digits(s, len, &pos, 2, &om))
			return bad(s, len, "has a bad offset");
	} else {
		return bad(s, len, "has no time zone offset (Z or +HH:MM)");
	}
	if (pos != len)
		return bad(s, len, "has trailing text");
	if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || mi > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return bad(s, len, "has a field out of range");
	if (sec == 60) {
		/* POSIX time has no leap seconds: fold onto the last microsecond */
		leap = 1;
		sec = 59;
	}
	us = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec;
	us -= (int64_t)sign * (oh * 3600 + om * 60);
	us = us * 1000000 + (leap ? 999999 : frac_us);
	if (Y < 1 || !in_range(us))
		return bad(s, len, "is outside 0001-01-01..9999-12-31");
	*out_us = us;
	return TARN_OK;
}

int tarn_time_parse(const char *s, size_t len, int64_t *out_us)
{
	char buf[32];
	char *end;
	long long ms;
	size_t i = 0;

	if (len > 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
		for (i = s[0] == '-' ? 1 : 0; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				break;
	}
	if (len == 0 || i != len)
		return tarn_time_parse_rfc3339(s, len, out_us);
	/* an all-digit string: epoch milliseconds */
	if (len >= sizeof(buf))
		return bad(s, len, "overflows epoch milliseconds");
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	ms = strtoll(buf, &end, 10);
	if (errno || *end || ms < TARN_TIME_MIN_US / 1000 || ms > TARN_TIME_MAX_US / 1000)
		return bad(s, len, "is outside 0001-01-01..9999-12-31");
	*out_us = (int64_t)ms * 1000;
	return TARN_OK;
}

int tarn_time_parse_date(const char *s, int64_t *out_us)
{
	size_t pos = 0, len = strlen(s);
	int Y, M, D;

	if (len != 10 || digits(s, len, &pos, 4, &Y) || expect(s, len, &pos, "-") ||
	    digits(s, len, &pos, 2, &M) || expect(s, len, &pos, "-") ||
	    digits(s, len, &pos, 2, &D) || Y < 1 || M < 1 || M > 12 || D < 1 ||
	    D > days_in_month(Y, M))
		return tarn__error_set(TARN_EINVAL, "'%.20s' is not a YYYY-MM-DD date", s);
	if (out_us)
		*out_us = days_from_civil(Y, M, D) * TARN_US_PER_DAY;
	return TARN_OK;
}

int tarn_time_parse_bound(const char *s, int64_t *out_us)
{
	if (strlen(s) == 10)
		return tarn_time_parse_date(s, out_us);
	return tarn_time_parse_rfc3339(s, strlen(s), out_us);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int tarn_time_format(int64_t us, char buf[28])
{
	char tmp[80];
	int64_t days, rem;
	int y, m, d;

	if (!in_range(us))
		return tarn__error_set(TARN_EINVAL, "time %lld us is out of range", (long long)us);
	days = floor_div(us, TARN_US_PER_DAY);
	rem = us - days * TARN_US_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d,
		 (int)(rem / 3600000000LL), (int)(rem / 60000000 % 60), (int)(rem / 1000000 % 60),
		 (int)(rem % 1000000));
	memcpy(buf, tmp, 28); /* in range, the text is exactly 27 bytes */
	return TARN_OK;
}

int tarn_time_date(int64_t us, char buf[11])
{
	int y, m, d;

	if (!in_range(us))
		return tarn__error_set(TARN_EINVAL, "time %lld us is out of range", (long long)us);
	char tmp[40];

	civil_from_days(floor_div(us, TARN_US_PER_DAY), &y, &m, &d);
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d", y, m, d);
	memcpy(buf, tmp, 11);
	return TARN_OK;
}

int64_t tarn_time_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
