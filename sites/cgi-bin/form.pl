#!/usr/bin/perl
# Echoes a submitted form: POSTed application/x-www-form-urlencoded (from stdin, CONTENT_LENGTH
# bytes) or the query string of a GET. Without fields it shows a small HTML form.
use strict;
use warnings;

sub decode {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
    return $s;
}

sub escape_html {
    my ($s) = @_;
    $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g; $s =~ s/"/&quot;/g;
    return $s;
}

my $method = $ENV{REQUEST_METHOD} // 'GET';
my $data = '';
if ($method eq 'POST') {
    my $length = $ENV{CONTENT_LENGTH} // 0;
    binmode STDIN;
    while ($length > 0) {
        my $n = read(STDIN, my $chunk, $length);
        last unless $n;
        $data .= $chunk;
        $length -= $n;
    }
} else {
    $data = $ENV{QUERY_STRING} // '';
}

my @fields;
for my $pair (split /[&;]/, $data) {
    next if $pair eq '';
    my ($k, $v) = split /=/, $pair, 2;
    push @fields, [decode($k), decode($v // '')];
}

if (!@fields) {
    print "Content-Type: text/html; charset=utf-8\r\n\r\n";
    print <<'HTML';
<!DOCTYPE html>
<title>form.pl</title>
<form method="post"><input name="name" placeholder="name"> <input name="lang" placeholder="language">
<button>Send</button></form>
HTML
    exit 0;
}

print "Content-Type: text/plain; charset=utf-8\r\n\r\n";
print "You sent (", $method, "):\n";
for my $f (@fields) {
    print "$f->[0] = $f->[1]\n";
}
