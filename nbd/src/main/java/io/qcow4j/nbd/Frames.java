package io.qcow4j.nbd;

import static io.qcow4j.nbd.Protocol.*;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The fixed-size headers of NBD messages, built and read here for both sides (the server and the
 * client): option requests and replies, transmission requests, simple replies and structured
 * reply chunks. Pure codecs: buffers in, buffers out, no I/O.
 */
final class Frames {
  private Frames() {}

  /** Bytes of a transmission request header. */
  static final int REQUEST_BYTES = 28;
  /** Bytes of a simple reply header. */
  static final int SIMPLE_REPLY_BYTES = 16;
  /** Bytes of a structured reply chunk header. */
  static final int CHUNK_BYTES = 20;
  /** Bytes of an option reply header. */
  static final int OPTION_REPLY_BYTES = 20;

  /** One transmission request; offset and length are unsigned on the wire. */
  record Request(int type, int flags, long cookie, long offset, long length) {
    boolean fua() {
      return (flags & CMD_FLAG_FUA) != 0;
    }

    boolean has(int flag) {
      return (flags & flag) != 0;
    }

    /** The request's header, ready to send. */
    ByteBuffer encode() {
      return ByteBuffer.allocate(REQUEST_BYTES).putInt(REQUEST_MAGIC).putShort((short) flags)
          .putShort((short) type).putLong(cookie).putLong(offset).putInt((int) length).flip();
    }

    /** The request whose header (after its magic, which the caller checked) is at {@code header}'s position. */
    static Request decodeAfterMagic(ByteBuffer header) {
      int flags = Short.toUnsignedInt(header.getShort());
      int type = Short.toUnsignedInt(header.getShort());
      return new Request(type, flags, header.getLong(), header.getLong(), Integer.toUnsignedLong(header.getInt()));
    }
  }

  /** One option reply header: the option it answers, the reply type and the payload's length. */
  record OptionReply(long magic, int option, int type, long length) {
    /** Whether the type is an error (its top bit set). */
    boolean isError() {
      return type < 0;
    }

    static OptionReply decode(ByteBuffer header) {
      return new OptionReply(header.getLong(), header.getInt(), header.getInt(), Integer.toUnsignedLong(header.getInt()));
    }
  }

  /** One structured reply chunk header (after its magic). */
  record Chunk(int flags, int type, long cookie, long length) {
    boolean done() {
      return (flags & REPLY_FLAG_DONE) != 0;
    }

    static Chunk decodeAfterMagic(ByteBuffer header) {
      return new Chunk(Short.toUnsignedInt(header.getShort()), Short.toUnsignedInt(header.getShort()),
          header.getLong(), Integer.toUnsignedLong(header.getInt()));
    }
  }

  /** The header of an option request carrying {@code length} bytes of data. */
  static ByteBuffer optionRequest(int option, int length) {
    return ByteBuffer.allocate(16).putLong(IHAVEOPT).putInt(option).putInt(length).flip();
  }

  /** The header of an option reply carrying {@code length} bytes of data. */
  static ByteBuffer optionReply(int option, int type, int length) {
    return ByteBuffer.allocate(OPTION_REPLY_BYTES).putLong(REPLY_MAGIC).putInt(option).putInt(type).putInt(length)
        .flip();
  }

  /** A simple reply's header. */
  static ByteBuffer simpleReply(long cookie, int error) {
    return ByteBuffer.allocate(SIMPLE_REPLY_BYTES).putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie).flip();
  }

  /** A chunk header with room for {@code room} payload bytes after it, positioned to write them. */
  static ByteBuffer chunkHeader(int flags, int type, long cookie, int length, int room) {
    return ByteBuffer.allocate(CHUNK_BYTES + room).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags)
        .putShort((short) type).putLong(cookie).putInt(length);
  }

  /** A string as the protocol sends it: UTF-8, without a terminator. */
  static byte[] bytes(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  static String utf8(byte[] bytes) {
    return new String(bytes, StandardCharsets.UTF_8);
  }
}
