# Writes N synthetic series mails into a v2 inbox through public-inbox's own writer.
use strict; use warnings;
use PublicInbox::Config; use PublicInbox::InboxWritable; use PublicInbox::Eml;
my ($name, $n, $tag) = @ARGV;
my $ibx = PublicInbox::Config->new->lookup_name($name) or die "no inbox $name\n";
my $im = PublicInbox::InboxWritable->new($ibx)->importer(0);
my $per = 5; # cover letter + 4 patches
for my $i (0 .. $n - 1) {
  my ($s, $k) = (int($i / $per), $i % $per);
  my $cover = "cover.$tag.$s\@example.org";
  my $mid = $k ? "$k.$tag.$s\@example.org" : $cover;
  my $subj = $k ? "[PATCH " . $k . "/4] $tag $s: part $k" : "[PATCH 0/4] $tag $s";
  my $thread = $k ? "In-Reply-To: <$cover>\nReferences: <$cover>\n" : '';
  my $body = $k ? "Part $k.\n\nSigned-off-by: Dev <dev$s\@example.org>\n---\ndiff --git a/f$s-$k b/f$s-$k\nnew file mode 100644\n--- /dev/null\n+++ b/f$s-$k\n@@ -0,0 +1 @@\n+$i\n" : "Series $s.\n";
  my $date = 1796126400 + $i;
  my @t = gmtime($date);
  my $d = sprintf("%s, %02d %s %d %02d:%02d:%02d +0000", (qw(Sun Mon Tue Wed Thu Fri Sat))[$t[6]], $t[3], (qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec))[$t[4]], $t[5]+1900, $t[2], $t[1], $t[0]);
  my $raw = "From: Dev $s <dev$s\@example.org>\nTo: " . $ibx->{-primary_address} . "\nSubject: $subj\nDate: $d\nMessage-ID: <$mid>\n${thread}MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\n$body";
  $im->add(PublicInbox::Eml->new(\$raw)) or die "not added: $mid\n";
}
$im->done;
