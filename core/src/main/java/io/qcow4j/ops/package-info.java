/**
 * Whole-image operations as library calls: map, compare, convert, info of a chain, range reads,
 * measure, commit, rebase and bench.
 * The command line only parses arguments and prints what these return; each of its commands is
 * one call here.
 */
package io.qcow4j.ops;
