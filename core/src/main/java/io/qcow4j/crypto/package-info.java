/**
 * LUKS1 and the sector ciphers, as pure codecs without I/O: the header, PBKDF2, the anti-forensic
 * splitter, AES in XTS, CBC, ECB and CTR with QEMU's IV generators. Used by the raw LUKS disk and
 * by qcow2's encryption.
 */
package io.qcow4j.crypto;
