/*
 * json.h - small jansson helpers shared by every module that writes JSON.
 */
#ifndef DM_COMMON_JSON_H
#define DM_COMMON_JSON_H

#include <jansson.h>

/*
 * A new JSON number for v, or JSON null when v is NaN or infinite (JSON
 * has neither, and json_real() returns NULL for them, which would make
 * json_object_set_new() drop the key silently).  A NaN double is how
 * driftmon marks an absent figure, so this is how absent figures reach
 * JSON output.
 */
json_t *dm_json_real(double v);

#endif
