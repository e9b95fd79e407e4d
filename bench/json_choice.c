/* Which JSON parser: jansson, json-c, or tarn's extraction (yajl's
 * streaming parser), on the same lines in the same run. jansson and json-c
 * parse every line into a tree and take event_id, timestamp and
 * event_type; tarn_event_extract takes id, time, name and the four gold
 * dimensions, checking each.  Usage: json_choice FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tarn/tarn.h"

size_t jc_parse_all(char **lines, const size_t *lens, size_t n);
int jc_accepts(const char *text, size_t len);

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char **lines = NULL;
	size_t *lens = NULL, n = 0, cap = 0, i, ok_j = 0, ok_c = 0, len_sum = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	double t_j, t_c, t_y;
	size_t ok_y = 0;
	FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;

	if (!f) {
		fprintf(stderr, "usage: json_choice FILE\n");
		return 2;
	}
	while ((len = getline(&line, &lcap, f)) > 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			lines = realloc(lines, cap * sizeof(*lines));
			lens = realloc(lens, cap * sizeof(*lens));
		}
		lines[n] = malloc((size_t)len);
		memcpy(lines[n], line, (size_t)len);
		lens[n++] = (size_t)len;
		len_sum += (size_t)len;
	}
	t_j = now_s();
	for (i = 0; i < n; i++) {
		json_t *j = json_loadb(lines[i], lens[i], 0, NULL);
		if (j && json_string_value(json_object_get(j, "event_id")) &&
		    json_string_value(json_object_get(j, "timestamp")) &&
		    json_string_value(json_object_get(j, "event_type")))
			ok_j++;
		json_decref(j);
	}
	t_j = now_s() - t_j;
	t_c = now_s();
	ok_c = jc_parse_all(lines, lens, n);
	t_c = now_s() - t_c;
	t_y = now_s();
	for (i = 0; i < n; i++) {
		tarn_event ev;
		tarn_reject why;

		tarn_event_init(&ev);
		ev.payload = lines[i];
		ev.payload_len = lens[i] - 1; /* without the newline */
		if (tarn_event_extract(&ev, NULL, &why, NULL, 0) == TARN_OK)
			ok_y++;
	}
	t_y = now_s() - t_y;
	printf("%zu lines, %.0f bytes/line\n", n, (double)len_sum / (double)n);
	printf("tarn_event_extract (yajl 2.1, streaming): %10.0f lines/s (%zu extracted)\n",
	       (double)n / t_y, ok_y);
	printf("jansson 2.14: %10.0f lines/s (%zu parsed)\n", (double)n / t_j, ok_j);
	printf("json-c 0.16:  %10.0f lines/s (%zu parsed)\n", (double)n / t_c, ok_c);
	printf("ratio json-c / jansson: %.2f\n", t_j / t_c);
	{
		static char deep[100001];
		json_error_t e;
		json_t *j;

		memset(deep, '[', 100000);
		j = json_loadb(deep, 100000, 0, &e);
		printf("100,000-deep nesting: jansson %s, json-c %s\n", j ? "parsed" : "rejected",
		       jc_accepts(deep, 100000) ? "parsed" : "rejected");
		json_decref(j);
		j = json_loadb("{\"a\":\"\xff\"}", 9, 0, &e);
		printf("invalid UTF-8: jansson %s, json-c (strict, validate) %s\n",
		       j ? "accepted" : "rejected",
		       jc_accepts("{\"a\":\"\xff\"}", 9) ? "accepted" : "rejected");
		json_decref(j);
	}
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(lens);
	free(line);
	fclose(f);
	return 0;
}
