#!/usr/bin/env bash
# Regenerates demo/inbox/*.eml: a good one-patch series and a bad two-patch series with a
# cover letter, as git format-patch and send-email would post them to the list.
# Maintainer-only: the generated mails are committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$here/make-repo.sh" "$work/repo" >/dev/null
cd "$work/repo"
export GIT_AUTHOR_NAME='Alice Contributor' GIT_AUTHOR_EMAIL='alice@example.org'
export GIT_COMMITTER_NAME='Alice Contributor' GIT_COMMITTER_EMAIL='alice@example.org'
export GIT_AUTHOR_DATE='2026-11-27T09:00:00Z' GIT_COMMITTER_DATE='2026-11-27T09:00:00Z'
rm -rf "$here/inbox" && mkdir -p "$here/inbox"

# The good series: one patch, no cover letter.
git checkout -q -b good main
sed -i 's/puts("(XEN) demo hypervisor");/puts("(XEN) demo hypervisor, v2 console");/' xen/common/console.c
git commit -q -am 'xen/console: say which console is in use' -m 'Signed-off-by: Alice Contributor <alice@example.org>'
git format-patch -q --base=main --to=demo-devel@lists.example.org -o "$work/good" \
  --subject-prefix='PATCH' main..good

# The bad series: a new driver that copies a static helper into another util.c.
export GIT_AUTHOR_NAME='Bob Newcomer' GIT_AUTHOR_EMAIL='bob@example.org'
export GIT_COMMITTER_NAME='Bob Newcomer' GIT_COMMITTER_EMAIL='bob@example.org'
git checkout -q -b bad main
mkdir -p xen/drivers
cat > xen/drivers/util.c <<'C'
/* Parses a port number for the serial driver. */
static int __attribute__((noinline)) parse_one(const char *s)
{
    int v = 0;

    while ( *s >= '0' && *s <= '9' )
        v = v * 10 + (*s++ - '0');
    return v > 65535 ? -1 : v;
}

int drivers_parse_port(const char *s)
{
    return parse_one(s);
}
C
git add xen/drivers/util.c
git commit -q -m 'xen/drivers: add a port parser' -m 'Signed-off-by: Bob Newcomer <bob@example.org>'
sed -i 's/^int common_parse(const char \*s);/int common_parse(const char *s);\nint drivers_parse_port(const char *s);/' xen/main.c
sed -i 's/    console_init();/    console_init();\n    drivers_parse_port("8250");/' xen/main.c
git commit -q -am 'xen: parse the serial port at start of day' -m 'Signed-off-by: Bob Newcomer <bob@example.org>'
git format-patch -q --base=main --cover-letter --thread --to=demo-devel@lists.example.org -o "$work/bad" main..bad
sed -i 's/\*\*\* SUBJECT HERE \*\*\*/serial port parsing/; s/\*\*\* BLURB HERE \*\*\*/Lets the serial driver take its port from the command line./' "$work/bad/0000-cover-letter.patch"

# git format-patch writes "From <sha> Mon Sep 17 00:00:00 2001" first; a mail on the list has
# Message-ID and Date headers instead, as send-email adds them.
n=0
for f in "$work"/good/*.patch "$work"/bad/*.patch; do
  n=$((n + 1))
  out="$here/inbox/$(printf '%02d' $n)-$(basename "$f" .patch).eml"
  {
    grep -qi '^Message-ID:' "$f" || printf 'Message-ID: <demo-%02d@example.org>\n' "$n"
    sed '1d' "$f"
  } >"$out"
done
ls "$here/inbox"
