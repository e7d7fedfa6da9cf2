/**
 * Whole-image operations as library calls: create, convert, compare, map, info of a chain, measure,
 * resize, snapshots, commit, rebase, bench, and qemu-io's reads and writes. The command line only
 * parses arguments and prints what these return; each of its commands is one call here.
 */
package io.qcow4j.ops;
