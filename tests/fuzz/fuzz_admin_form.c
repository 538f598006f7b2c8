/*
 * Fuzz target for the admin UI's request bodies (admin/form.c, admin/json.c): urlencoded forms and JSON
 * objects from whoever reaches mxadmin. The first input octet picks the parser. Besides what the
 * sanitizers catch, it aborts when a parsed form breaks its contract: too many fields, a name that is
 * empty or too long, a value that is not NUL-terminated valid text.
 */
#include "admin/form.h"
#include "admin/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct form *form = NULL;
	const char *error;
	const char *text = (const char *)data + 1;
	int rc = data[0] & 1 ? json_parse_object(text, size - 1, &form, &error)
	                     : form_parse_urlencoded(text, size - 1, &form, &error);
	if (rc == 0) {
		if (form == NULL || form->n > FORM_FIELDS_MAX)
			abort();
		for (size_t i = 0; i < form->n; i++) {
			size_t nl = strlen(form->fields[i].name);
			if (nl == 0 || nl > FORM_NAME_MAX)
				abort();
			(void)strlen(form->fields[i].value);
			(void)form_get(form, form->fields[i].name);
		}
		form_free(&form);
	} else if (error == NULL) {
		abort();
	}
	form_free(&form);
	return 0;
}
