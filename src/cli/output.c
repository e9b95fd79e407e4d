/* Result sets as an aligned table, CSV (RFC 4180) or JSON (jansson).
 * Table format measures column widths on the first rows and streams the
 * rest, so a large result does not have to fit in memory. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define WIDTH_ROWS 500

struct cli_out {
	FILE *f;
	int format;
	int n_sets; /* result sets begun */
	int titled; /* JSON: sets are keys of one object */
	int in_set;
	uint64_t rows; /* rows in the current set */
	/* table: the buffered head of the set */
	int n_cols;
	char **names;
	char **cells; /* WIDTH_ROWS * n_cols, malloc'd strings */
	size_t n_buffered;
	size_t *width;
	int header_done;
	char *signature; /* column names of the current set, to see a new statement */
};

/* The column names joined, to tell one statement's rows from the next's. */
static char *signature_of(int n, const char *const *names)
{
	size_t len = 16, o = 0;
	char *s;
	int c;

	for (c = 0; c < n; c++)
		len += strlen(names[c] ? names[c] : "") + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	o += (size_t)snprintf(s, len, "%d", n);
	for (c = 0; c < n; c++)
		o += (size_t)snprintf(s + o, len - o, "\x1f%s", names[c] ? names[c] : "");
	return s;
}

struct cli_out *cli_out_new(FILE *f, int format)
{
	struct cli_out *o = calloc(1, sizeof(*o));

	if (o) {
		o->f = f;
		o->format = format;
	}
	return o;
}

static char *hex_blob(const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	char *s = malloc(n * 2 + 4);
	size_t i;

	if (!s)
		return NULL;
	s[0] = 'x';
	s[1] = '\'';
	for (i = 0; i < n; i++) {
		s[2 + 2 * i] = digits[b[i] >> 4];
		s[3 + 2 * i] = digits[b[i] & 15];
	}
	s[2 + 2 * n] = '\'';
	s[3 + 2 * n] = '\0';
	return s;
}

/* A value as text; table format escapes control characters. */
static char *value_text(const tarn_value *v, int escape)
{
	char num[64];
	char *s;
	size_t i, o = 0;

	switch (v->type) {
	case TARN_VALUE_NULL: return strdup(escape ? "NULL" : "");
	case TARN_VALUE_INT:
		snprintf(num, sizeof(num), "%lld", (long long)v->i);
		return strdup(num);
	case TARN_VALUE_REAL: snprintf(num, sizeof(num), "%.15g", v->d); return strdup(num);
	case TARN_VALUE_BLOB: return hex_blob(v->p, v->len);
	default: break;
	}
	s = malloc(v->len * 4 + 1);
	if (!s)
		return NULL;
	for (i = 0; i < v->len; i++) {
		unsigned char c = ((const unsigned char *)v->p)[i];
		if (escape && (c < 0x20 || c == 0x7f))
			o += (size_t)sprintf(s + o, c == '\n' ? "\\n" : "\\x%02x", c);
		else
			s[o++] = (char)c;
	}
	s[o] = '\0';
	return s;
}

static void csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static json_t *json_value(const tarn_value *v)
{
	json_t *j;
	char *s;

	switch (v->type) {
	case TARN_VALUE_NULL: return json_null();
	case TARN_VALUE_INT: return json_integer(v->i);
	case TARN_VALUE_REAL: return json_real(v->d);
	case TARN_VALUE_TEXT:
		j = json_stringn(v->p, v->len);
		if (j)
			return j;
		break; /* not UTF-8: shown as hex like a blob */
	default: break;
	}
	s = hex_blob(v->p, v->len);
	j = json_string(s ? s : "");
	free(s);
	return j;
}

void cli_out_begin(struct cli_out *o, const char *title)
{
	o->in_set = 1;
	o->rows = 0;
	o->header_done = 0;
	o->n_cols = 0;
	if (o->format == OUT_JSON) {
		if (o->n_sets == 0 && title) {
			o->titled = 1;
			fputs("{", o->f);
		}
		if (o->titled) {
			json_t *js = json_string(title);
			char *t = json_dumps(js, JSON_ENCODE_ANY);
			fprintf(o->f, "%s\n%s: [", o->n_sets ? "," : "", t ? t : "\"\"");
			free(t);
			json_decref(js);
		} else {
			fputs("[", o->f);
		}
	} else if (title) {
		fprintf(o->f, "%s%s%s\n", o->n_sets ? "\n" : "",
			o->format == OUT_CSV ? "# " : "== ", title);
	} else if (o->n_sets) {
		fputc('\n', o->f);
	}
	o->n_sets++;
}

static void table_line(struct cli_out *o, char **cells)
{
	int c;

	for (c = 0; c < o->n_cols; c++) {
		if (c + 1 < o->n_cols)
			fprintf(o->f, "%-*s  ", (int)o->width[c], cells[c]);
		else
			fprintf(o->f, "%s", cells[c]);
	}
	fputc('\n', o->f);
}

static void table_flush(struct cli_out *o)
{
	size_t r, i;
	int c;

	if (!o->header_done && o->n_cols) {
		table_line(o, o->names);
		for (c = 0; c < o->n_cols; c++) {
			for (i = 0; i < o->width[c]; i++)
				fputc('-', o->f);
			fputs(c + 1 < o->n_cols ? "  " : "\n", o->f);
		}
		o->header_done = 1;
	}
	for (r = 0; r < o->n_buffered; r++) {
		table_line(o, o->cells + r * (size_t)o->n_cols);
		for (c = 0; c < o->n_cols; c++)
			free(o->cells[r * (size_t)o->n_cols + (size_t)c]);
	}
	o->n_buffered = 0;
}

static void table_reset(struct cli_out *o)
{
	int c;

	for (c = 0; c < o->n_cols; c++)
		free(o->names[c]);
	free(o->names);
	free(o->cells);
	free(o->width);
	o->names = o->cells = NULL;
	o->width = NULL;
	o->n_cols = 0;
}

static int table_row(struct cli_out *o, int n, const char *const *names, const tarn_value *v)
{
	char **row;
	int c;

	if (o->n_cols == 0) {
		o->n_cols = n;
		o->names = calloc((size_t)n, sizeof(char *));
		o->cells = calloc((size_t)n * WIDTH_ROWS, sizeof(char *));
		o->width = calloc((size_t)n, sizeof(size_t));
		if (!o->names || !o->cells || !o->width)
			return 1;
		for (c = 0; c < n; c++) {
			o->names[c] = strdup(names[c] ? names[c] : "");
			o->width[c] = strlen(o->names[c]);
		}
	}
	if (o->header_done) {
		row = o->cells;
	} else {
		if (o->n_buffered == WIDTH_ROWS)
			table_flush(o);
		row = o->cells + o->n_buffered * (size_t)n;
	}
	for (c = 0; c < n; c++) {
		row[c] = value_text(&v[c], 1);
		if (!row[c])
			return 1;
		if (!o->header_done && strlen(row[c]) > o->width[c])
			o->width[c] = strlen(row[c]);
	}
	if (o->header_done) {
		table_line(o, row);
		for (c = 0; c < n; c++)
			free(row[c]);
	} else {
		o->n_buffered++;
	}
	return 0;
}

int cli_out_row(void *ctx, int n, const char *const *names, const tarn_value *v)
{
	struct cli_out *o = ctx;
	char *sig = o->format == OUT_JSON ? NULL : signature_of(n, names);
	int c;

	/* rows of a further statement with other columns start a new block
	 * (JSON rows carry their own keys and stay in one array) */
	if (sig && o->signature && strcmp(sig, o->signature) != 0 && o->rows) {
		cli_out_end(o);
		cli_out_begin(o, NULL);
	}
	if (sig) {
		free(o->signature);
		o->signature = sig;
	}

	if (o->format == OUT_TABLE) {
		o->rows++;
		return table_row(o, n, names, v);
	}
	if (o->format == OUT_CSV) {
		if (o->rows == 0) {
			for (c = 0; c < n; c++) {
				if (c)
					fputc(',', o->f);
				csv_field(o->f, names[c] ? names[c] : "");
			}
			fputs("\r\n", o->f);
		}
		for (c = 0; c < n; c++) {
			char *s = value_text(&v[c], 0);
			if (c)
				fputc(',', o->f);
			csv_field(o->f, s ? s : "");
			free(s);
		}
		fputs("\r\n", o->f);
	} else {
		json_t *obj = json_object();
		char *s;

		for (c = 0; c < n; c++)
			json_object_set_new(obj, names[c] ? names[c] : "", json_value(&v[c]));
		s = json_dumps(obj, JSON_PRESERVE_ORDER | JSON_COMPACT);
		fprintf(o->f, "%s\n  %s", o->rows ? "," : "", s ? s : "{}");
		free(s);
		json_decref(obj);
	}
	o->rows++;
	return ferror(o->f) ? 1 : 0;
}

void cli_out_end(struct cli_out *o)
{
	if (!o->in_set)
		return;
	if (o->format == OUT_TABLE) {
		table_flush(o);
		if (o->rows == 0)
			fputs("(no rows)\n", o->f);
		table_reset(o);
	} else if (o->format == OUT_JSON) {
		fputs(o->rows ? "\n]" : "]", o->f);
		if (!o->titled)
			fputc('\n', o->f);
	}
	o->in_set = 0;
}

void cli_out_free(struct cli_out *o)
{
	if (!o)
		return;
	cli_out_end(o);
	if (o->format == OUT_JSON && o->titled)
		fputs("\n}\n", o->f);
	fflush(o->f);
	free(o->signature);
	free(o);
}
