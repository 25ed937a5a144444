/*
 * time.c - clocks and RFC 3339 conversion without the C library's time
 * zone machinery (gmtime/localtime are banned in src/: not thread-safe).
 * Civil-date arithmetic follows Howard Hinnant's days_from_civil.
 */
#include "common/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t dm_time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t dm_time_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void split(int64_t ms, int64_t *y, int *mo, int *d, int *h, int *mi,
                  int *s, int *msec)
{
    int64_t days = floor_div(ms, DM_MS_PER_DAY);
    int64_t rem = ms - days * DM_MS_PER_DAY;

    civil_from_days(days, y, mo, d);
    *h = (int)(rem / DM_MS_PER_HOUR);
    *mi = (int)(rem / 60000 % 60);
    *s = (int)(rem / 1000 % 60);
    *msec = (int)(rem % 1000);
}

char *dm_time_format_ms(int64_t ms, char *out, size_t n)
{
    int64_t y;
    int mo, d, h, mi, s, msec;

    split(ms, &y, &mo, &d, &h, &mi, &s, &msec);
    snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, mo,
             d, h, mi, s, msec);
    return out;
}

char *dm_time_format_s(int64_t ms, char *out, size_t n)
{
    int64_t y;
    int mo, d, h, mi, s, msec;

    split(ms, &y, &mo, &d, &h, &mi, &s, &msec);
    snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, mo, d, h,
             mi, s);
    return out;
}

/* Reads exactly ndig decimal digits at *p. */
static int digits(const char **p, int ndig, int *out)
{
    int v = 0;

    for (int i = 0; i < ndig; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += ndig;
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 ? 28 + leap : dim[m - 1];
}

int dm_time_parse(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, oh, om;
    int64_t frac_ms = 0, off_min = 0;

    if (s == NULL || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
        *p++ != '-' || digits(&p, 2, &d))
        return DM_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return DM_EPARSE;
    if (*p == '\0')
        goto done;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return DM_EPARSE;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return DM_EPARSE;
    /* 60 allows a leap second, folded into the next minute */
    if (h > 23 || mi > 59 || sec > 60)
        return DM_EPARSE;
    if (*p == '.') {
        int scale = 100, nd = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
            p++;
            nd++;
        }
        if (nd == 0)
            return DM_EPARSE;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) ||
            oh > 23 || om > 59)
            return DM_EPARSE;
        off_min = sign * (oh * 60 + om);
    } else {
        return DM_EPARSE;
    }
    if (*p != '\0')
        return DM_EPARSE;
done:
    *out_ms = days_from_civil(y, mo, d) * DM_MS_PER_DAY +
              (int64_t)h * DM_MS_PER_HOUR + (int64_t)mi * 60000 +
              (int64_t)sec * 1000 + frac_ms - off_min * 60000;
    return DM_OK;
}
