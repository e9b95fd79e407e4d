/* The json-c half of bench/json_choice.c (the two headers cannot meet in
 * one translation unit: both define json_object). */
#include <stddef.h>

#include <json-c/json.h>

size_t jc_parse_all(char **lines, const size_t *lens, size_t n);
int jc_accepts(const char *text, size_t len);

size_t jc_parse_all(char **lines, const size_t *lens, size_t n)
{
	json_tokener *tok = json_tokener_new_ex(64);
	size_t i, ok = 0;

	for (i = 0; i < n; i++) {
		json_object *o, *v1, *v2, *v3;

		json_tokener_reset(tok);
		o = json_tokener_parse_ex(tok, lines[i], (int)lens[i]);
		if (o && json_object_object_get_ex(o, "event_id", &v1) &&
		    json_object_object_get_ex(o, "timestamp", &v2) &&
		    json_object_object_get_ex(o, "event_type", &v3) && json_object_get_string(v1) &&
		    json_object_get_string(v2) && json_object_get_string(v3))
			ok++;
		json_object_put(o);
	}
	json_tokener_free(tok);
	return ok;
}

int jc_accepts(const char *text, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;
	int ok;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	ok = o != NULL;
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}
