//go:build !etcd34 && !etcd35 && !etcd36 && !etcd37

// Built without a series tag: fail with a name that says what is missing
// (tests/etcd/install.sh passes the tag of the version it builds for).
package main

var _ = walverify_needs_one_build_tag_of_etcd34_etcd35_etcd36_etcd37
