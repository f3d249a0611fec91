/* Parses a small decimal number. */
static int __attribute__((noinline)) parse_one(const char *s)
{
    int v = 0;

    while ( *s >= '0' && *s <= '9' )
        v = v * 10 + (*s++ - '0');
    return v;
}

int common_parse(const char *s)
{
    return parse_one(s);
}
