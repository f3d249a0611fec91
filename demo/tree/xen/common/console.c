#include <stdio.h>

static int banner_printed;

int console_init(void)
{
    if ( !banner_printed )
        puts("(XEN) demo hypervisor");
    banner_printed = 1;
    return 0;
}
