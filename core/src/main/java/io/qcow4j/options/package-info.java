/**
 * qemu-img's -o options as QEMU's QemuOpts reads them: the option lists of each format and command
 * (create, convert, measure, amend for qcow2 and raw), the "key=value,..." syntax, typed values with
 * qemu-img's messages, the option dump of the "Formatting ..." line, the -o help text, and the
 * readers that turn a list into {@link io.qcow4j.disk.CreateOptions} or
 * {@link io.qcow4j.disk.AmendOptions} with the checks and messages of qemu-img 7.2.
 */
package io.qcow4j.options;
