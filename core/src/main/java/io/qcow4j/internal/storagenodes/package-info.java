/**
 * The nodes of an image spec that give storage, below any format: the opener of storage nodes and
 * the storage decorators of their drivers (raw's window, null-co, blkdebug).
 */
package io.qcow4j.internal.storagenodes;
