/**
 * The entry point of qcow4j: {@link io.qcow4j.DiskImages} opens an image by path (probing its
 * format as QEMU does), creates one, or names a file's format.
 */
package io.qcow4j;
