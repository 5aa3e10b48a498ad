#!/usr/bin/perl
# build-test-mmdb.pl - writes the test internet's own geo databases:
#   OUTDIR/gatehouse-test-asn.mmdb      autonomous_system_number/_organization
#   OUTDIR/gatehouse-test-country.mmdb  country.iso_code
# mapping the tests' private-internet addresses (127.61.0.0/16 and
# fd61::/16, see tests/integration/test_geo.py) to chosen networks.  Built at
# test time with Debian's libmaxmind-db-writer-perl, so no real geolocation
# data is needed or shipped.  Usage: build-test-mmdb.pl OUTDIR [PREFIX]
# PREFIX (default 127.61) is the first two octets of the IPv4 world.
#
# The ASNs are real (M247 AS9009, Datacamp AS60068) where the tests name a
# VPN network, and from the documentation range (RFC 5398: 64496-64511)
# otherwise.  Their owners are as the real databases spell them.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my ($out, $prefix) = @ARGV;
die "usage: $0 OUTDIR [PREFIX]\n" unless defined $out && -d $out;
$prefix //= '127.61';
die "PREFIX must be two octets, e.g. 127.61\n" unless $prefix =~ /^\d{1,3}\.\d{1,3}$/;

# network => [asn, organisation, country]
my @nets = (
    ["$prefix.10.0/24", 9009,  'M247 Europe SRL',           'RO'],
    ["$prefix.11.0/24", 60068, 'Datacamp Limited',          'GB'],
    ["$prefix.12.0/24", 64500, 'Gatehouse Test School ISP', 'GB'],
    ["$prefix.13.0/24", 64501, 'Gatehouse Test Hosting',    'RU'],
    ["$prefix.14.0/24", 64502, "Gatehouse \"Quoted\" Org",  'NL'],
    ['fd61:10::/32',    9009,  'M247 Europe SRL',           'RO'],
    ['fd61:12::/32',    64500, 'Gatehouse Test School ISP', 'GB'],
);

sub tree {
    my ($type, $desc, $types) = @_;
    return MaxMind::DB::Writer::Tree->new(
        ip_version            => 6,
        record_size           => 24,
        database_type         => $type,
        languages             => ['en'],
        description           => {en => $desc},
        map_key_type_callback => sub { $types->{$_[0]} },
        # 127/8 and fd00::/8 are reserved: the writer leaves them out unless told.
        remove_reserved_networks => 0,
    );
}

my $asn = tree('Gatehouse-Test-ASN', 'Gatehouse test ASN database (test internet only)',
               {autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string'});
my $cc = tree('Gatehouse-Test-Country', 'Gatehouse test country database (test internet only)',
              {country => 'map', iso_code => 'utf8_string'});
for my $n (@nets) {
    my ($net, $num, $org, $country) = @$n;
    $asn->insert_network($net, {autonomous_system_number => $num, autonomous_system_organization => $org});
    $cc->insert_network($net, {country => {iso_code => $country}});
}
for my $pair (["$out/gatehouse-test-asn.mmdb", $asn], ["$out/gatehouse-test-country.mmdb", $cc]) {
    my ($path, $tree) = @$pair;
    open(my $fh, '>:raw', "$path.tmp") or die "$path.tmp: $!\n";
    $tree->write_tree($fh);
    close($fh) or die "$path.tmp: $!\n";
    rename("$path.tmp", $path) or die "$path: $!\n";
}
