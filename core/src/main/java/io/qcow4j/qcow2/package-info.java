/**
 * The qcow2 engine. Its one public type, {@link io.qcow4j.qcow2.QcowFile}, is the
 * {@link io.qcow4j.disk.DiskFile} of a qcow2 image, with what only qcow2 has (compressed clusters,
 * emptying a layer, changing the recorded backing file) and opening or creating an image in a
 * {@link io.qcow4j.storage.Storage} of the caller's.
 */
package io.qcow4j.qcow2;
