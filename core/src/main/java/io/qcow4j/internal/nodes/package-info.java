/**
 * The nodes of QEMU's block graph that an image spec stacks below or instead of a format: the
 * opener that turns a {@link io.qcow4j.spec.BlockNode} into storage or a disk, and the storage and
 * disk decorators of each driver (raw's window, null-co, blkdebug, copy-on-read, compress).
 */
package io.qcow4j.internal.nodes;
