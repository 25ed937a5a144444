/*
 * json.c - jansson helpers.
 */
#include "common/json.h"

#include <math.h>

json_t *dm_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}
