/**
 * Image specs and secrets as QEMU's tools take them on their command lines: a file name, a
 * "json:{...}" description or an --image-opts option string ({@link io.qcow4j.spec.ImageSpec}),
 * the options of the image's format ({@link io.qcow4j.spec.FormatOptions}), and the secrets
 * that --object arguments define ({@link io.qcow4j.spec.Secrets}); with the parsers only they use
 * (keyval, QEMU's JSON, QDict order), option strings and their values being read by
 * {@code io.qcow4j.options}. Parsing only;
 * {@link io.qcow4j.DiskImages#open(ImageSpec, io.qcow4j.disk.OpenOptions, Secrets)} opens a spec.
 */
package io.qcow4j.spec;

import io.qcow4j.internal.spec.QDict;
