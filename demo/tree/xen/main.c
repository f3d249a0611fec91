int console_init(void);
int common_parse(const char *s);

int main(int argc, char **argv)
{
    console_init();
    return common_parse(argc > 1 ? argv[1] : "0");
}
